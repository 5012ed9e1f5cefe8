import * as assert from 'node:assert/strict';
import { AutoSwitchGate, autoSwitchDecision, namedWorkspaceMode } from '../../../src/ui/autoSwitchDecision';

describe('auto-switch decision', () => {
  const modes = ['code', 'rag'];
  it('never switches in an untrusted workspace, whatever the settings', () => {
    assert.deepEqual(autoSwitchDecision(false, 'on', 'rag', modes, 'code'), { kind: 'none' });
  });
  it('asks by default, switches when set to on, does nothing when off or already there', () => {
    assert.deepEqual(autoSwitchDecision(true, 'ask', 'rag', modes, 'code'), { kind: 'ask', mode: 'rag' });
    assert.deepEqual(autoSwitchDecision(true, 'on', 'rag', modes, 'code'), { kind: 'switch', mode: 'rag' });
    assert.deepEqual(autoSwitchDecision(true, 'off', 'rag', modes, 'code'), { kind: 'none' });
    assert.deepEqual(autoSwitchDecision(true, 'on', 'rag', modes, 'rag'), { kind: 'none' });
    assert.deepEqual(autoSwitchDecision(true, 'on', undefined, modes, 'rag'), { kind: 'none' });
  });
  it('a workspace can only name a configured mode', () => {
    assert.deepEqual(autoSwitchDecision(true, 'on', 'rm -rf', modes, 'code'), { kind: 'unknown-mode', mode: 'rm -rf' });
  });
});

describe('the mode a workspace names', () => {
  it('comes from folder or workspace settings, the first non-blank one, trimmed', () => {
    assert.equal(namedWorkspaceMode([undefined, { workspaceFolderValue: '  ' }, { workspaceValue: ' rag ' }]), 'rag');
    assert.equal(namedWorkspaceMode([{ workspaceFolderValue: 'code', workspaceValue: 'rag' }]), 'code');
  });
  it('never from user settings, and never a non-string', () => {
    const userLevel = { key: 'gpumod.workspaceMode', defaultValue: '', globalValue: 'rag', workspaceValue: undefined };
    assert.equal(namedWorkspaceMode([userLevel]), undefined);
    assert.equal(namedWorkspaceMode([{ workspaceValue: 42 }, { workspaceFolderValue: ['rag'] }]), undefined);
  });
});

describe('when the auto-switch decides', () => {
  it('a trusted window decides at its first turn, and never again', () => {
    const gate = new AutoSwitchGate();
    assert.equal(gate.turn(true), 'decide');
    assert.equal(gate.turn(true), 'skip');
    assert.equal(gate.turn(true), 'skip');
  });
  it('an untrusted window says so once, then decides when trust is granted', () => {
    const gate = new AutoSwitchGate();
    assert.equal(gate.turn(false), 'await-trust');
    assert.equal(gate.turn(false), 'skip', 'later observations while untrusted say nothing');
    assert.equal(gate.turn(true), 'decide', 'the grant of trust decides again');
  });
  it('the grant and the next observation after it decide once between them', () => {
    const gate = new AutoSwitchGate();
    gate.turn(false);
    const turns = [gate.turn(true), gate.turn(true), gate.turn(true)];
    assert.deepEqual(turns, ['decide', 'skip', 'skip']);
  });
});
