import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import { backToBlank, observedGpumod } from '../support/gpumod';
import { until } from '../support/until';
import type { GpumodApi } from '../../../src/ui/api';

/**
 * Restricted Mode limits what a workspace can make gpumod do, not what the user can: switching by
 * hand works. Runs before trustGrant.test.ts, in the same untrusted window.
 */

describe('in Restricted Mode', function () {
  this.timeout(240000);
  let api: GpumodApi;

  before(async () => {
    api = await observedGpumod();
  });

  it('the user switches by hand, and a gpumod.yaml rewritten mid-switch does not break the switch', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const file = process.env.GPUMOD_CONFIG;
    assert.ok(file, 'the workstation fixture names its config');
    const done = vscode.commands.executeCommand('gpumod.switchMode', 'code');
    await until('the switch to start', () => api.switching()?.to === 'code', 30000);
    // The reload replaces the window's HTTP clients; the running switch must keep its own.
    writeFileSync(file, readFileSync(file, 'utf8') + '\n# touched mid-switch\n');
    await done;
    await api.refresh();
    assert.equal(api.mode(), 'code');
    assert.equal(new Map(api.services().map((s) => [s.name, s.state])).get('glm-code'), 'running');
    await backToBlank(api);
  });
});
