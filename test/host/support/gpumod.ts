import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { until } from './until';
import type { GpumodApi } from '../../../src/ui/api';

/** Activates gpumod and waits for its first observation of the workstation. */
export async function observedGpumod(): Promise<GpumodApi> {
  const ext = vscode.extensions.getExtension<GpumodApi>('gpumod.gpumod');
  assert.ok(ext);
  const api = await ext.activate();
  await until('the first observation', () => api.services().length > 0 && api.services().every((s) => s.state !== 'unknown'));
  return api;
}

/** Fails if a switch runs at any moment during the next `ms`. */
export async function assertNoSwitchFor(api: GpumodApi, ms: number, message: string): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    assert.equal(api.switching(), undefined, message);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Leaves the machine in blank, as the next suite expects it. */
export async function backToBlank(api: GpumodApi): Promise<void> {
  await vscode.commands.executeCommand('gpumod.switchMode', 'blank');
  await api.refresh();
  assert.equal(api.mode(), 'blank');
}
