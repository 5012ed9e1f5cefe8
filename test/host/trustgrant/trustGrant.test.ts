import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { assertNoSwitchFor, backToBlank, observedGpumod } from '../support/gpumod';
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
    api = await observedGpumod();
  });

  it('while untrusted, nothing switches', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    await assertNoSwitchFor(api, 3000, 'no switch may start');
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
    await assertNoSwitchFor(api, 4000, 'no second switch');
    assert.equal(new Map(api.services().map((s) => [s.name, s.state])).get('glm-code'), 'running');
    await backToBlank(api);
  });
});
