import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { until } from '../support/until';
import type { GpumodApi } from '../../../src/ui/api';

/**
 * A workspace that names the mode "code" opens untrusted (gpumod.autoSwitch "on" in the user's
 * settings); then the user trusts it in the workbench (the runner clicks "Trust" in the Workspace
 * Trust editor, the real onDidGrantWorkspaceTrust follows). The switch must happen then, once.
 */

describe('trust granted after a workspace that names a mode opened untrusted', function () {
  this.timeout(240000);
  let api: GpumodApi;

  before(async () => {
    const ext = vscode.extensions.getExtension<GpumodApi>('gpumod.gpumod');
    assert.ok(ext);
    api = await ext.activate();
    await until('the first observation', () => api.services().length > 0 && api.services().every((s) => s.state !== 'unknown'));
  });

  it('while untrusted, nothing switches', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const start = Date.now();
    while (Date.now() - start < 3000) {
      assert.equal(api.switching(), undefined, 'no switch may start');
      await new Promise((r) => setTimeout(r, 200));
    }
    await api.refresh();
    assert.notEqual(api.mode(), 'code');
  });

  it('once the user trusts the workspace, it switches to the named mode, once', async () => {
    const granted = new Promise<void>((resolve) => {
      const sub = vscode.workspace.onDidGrantWorkspaceTrust(() => {
        sub.dispose();
        resolve();
      });
    });
    // The runner drives the workbench: on this line it clicks "Trust" as a user would.
    const request = process.env.GPUMOD_GRANT_TRUST_LINE;
    assert.ok(request, 'the runner says which line asks it to grant trust');
    console.log(request);
    await Promise.race([granted, new Promise((_, reject) => setTimeout(() => reject(new Error('trust was never granted')), 60000))]);
    assert.equal(vscode.workspace.isTrusted, true);
    await until('the switch to code', () => api.switching()?.to === 'code' || api.mode() === 'code', 30000);
    await until('the switch to finish', () => api.mode() === 'code' && !api.switching(), 150000);
    // The grant and the observations after it must not decide twice.
    const start = Date.now();
    while (Date.now() - start < 4000) {
      assert.equal(api.switching(), undefined, 'no second switch');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(new Map(api.services().map((s) => [s.name, s.state])).get('glm-code'), 'running');
    // Leave the machine as found for whatever runs next.
    await vscode.commands.executeCommand('gpumod.switchMode', 'blank');
    await api.refresh();
    assert.equal(api.mode(), 'blank');
  });
});
