import * as assert from 'node:assert/strict';
import { autoSwitchDecision } from '../../../src/ui/autoSwitchDecision';

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
