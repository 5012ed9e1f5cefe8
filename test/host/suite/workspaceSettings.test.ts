import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

/**
 * The runner opens this window on a workspace whose .vscode/settings.json tries to set every gpumod
 * setting a workspace must not: which config is read, whether switches happen without asking, how
 * often the machine is polled. Those are machine-scoped: VS Code applies only the user's values.
 */

describe('what a workspace cannot set', () => {
  const gpumod = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('gpumod');

  it('the window is trusted and its workspace settings are applied', () => {
    assert.equal(vscode.workspace.isTrusted, true);
    assert.equal(vscode.workspace.getConfiguration('editor').get('tabSize'), 7, 'the workspace settings file is read');
  });

  it('gpumod.configPath, gpumod.autoSwitch and gpumod.pollIntervalSeconds keep the user\'s values', () => {
    assert.equal(gpumod().get('configPath'), '', JSON.stringify(gpumod().inspect('configPath')));
    assert.equal(gpumod().get('autoSwitch'), 'ask', JSON.stringify(gpumod().inspect('autoSwitch')));
    assert.equal(gpumod().get('pollIntervalSeconds'), 5, JSON.stringify(gpumod().inspect('pollIntervalSeconds')));
  });

  it('gpumod.workspaceMode is the one setting a workspace sets', () => {
    assert.equal(gpumod().inspect('workspaceMode')?.workspaceValue, 'rag');
  });
});
