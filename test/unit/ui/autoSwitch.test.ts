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
  it('a trusted window decides at its first turn, named mode or not, and never again', () => {
    const gate = new AutoSwitchGate();
    assert.equal(gate.turn(true, false), 'decide');
    assert.equal(gate.turn(true, true), 'skip', 'a mode named later does not switch a trusted window');
    assert.equal(gate.turn(true, true), 'skip');
  });
  it('an untrusted window says so once, then decides when trust is granted', () => {
    const gate = new AutoSwitchGate();
    assert.equal(gate.turn(false, false), 'await-trust');
    assert.equal(gate.turn(false, false), 'skip', 'later observations while untrusted say nothing');
    assert.equal(gate.turn(true, true), 'decide', 'the grant of trust decides again');
    assert.equal(gate.turn(true, true), 'skip');
  });
  it('after the grant, waits for the workspace\'s mode to arrive, then decides once', () => {
    // VS Code fires onDidGrantWorkspaceTrust before it hands over the restricted settings.
    const gate = new AutoSwitchGate();
    gate.turn(false, false);
    const turns = [gate.turn(true, false), gate.turn(true, false), gate.turn(true, true), gate.turn(true, true), gate.turn(true, true)];
    assert.deepEqual(turns, ['skip', 'skip', 'decide', 'skip', 'skip']);
  });
});
