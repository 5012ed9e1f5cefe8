import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { observedGpumod } from '../support/gpumod';
import { until } from '../support/until';
import type { GpumodApi } from '../../../src/ui/api';

/**
 * The language-model tools an agent in the editor calls, in the real VS Code against the demo
 * workstation: they say what the CLI says, and a switch asks the user with the real plan before the
 * status bar follows it. Outside a chat VS Code asks in a modal dialog, which an extension test
 * host answers "yes" by itself: the API gives the text the user would read. Runs after switch.test.
 */

const TOOLS = ['gpumod_status', 'gpumod_plan', 'gpumod_switch_mode', 'gpumod_service_action'];

function cli(args: string[]): Promise<Record<string, unknown>> {
  const path = join(vscode.extensions.getExtension('gpumod.gpumod')!.extensionPath, 'dist/cli.js');
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [path, ...args], { env: process.env }, (err, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        reject(new Error(`gpumod ${args.join(' ')}: ${err?.message ?? ''}\n${stdout}\n${stderr}`));
      }
    }),
  );
}

async function call(name: string, input: object): Promise<Record<string, unknown>> {
  const r = await vscode.lm.invokeTool(name, { input, toolInvocationToken: undefined });
  const part = r.content[0];
  assert.ok(part instanceof vscode.LanguageModelTextPart, `${name} answered no text`);
  return JSON.parse(part.value) as Record<string, unknown>;
}

describe('language-model tools in VS Code against real systemd units', function () {
  this.timeout(120000);
  let api: GpumodApi;

  before(async () => {
    api = await observedGpumod();
  });

  it('registers the four tools with their schemas', () => {
    const mine = vscode.lm.tools.filter((t) => t.name.startsWith('gpumod_'));
    assert.deepEqual(mine.map((t) => t.name).sort(), [...TOOLS].sort());
    const sw = mine.find((t) => t.name === 'gpumod_switch_mode');
    assert.deepEqual((sw?.inputSchema as { required: string[] }).required, ['mode']);
    assert.match(sw?.description ?? '', /Switches the workstation to a mode/);
  });

  it('gpumod_status and gpumod_plan say what gpumod status --json and plan --json say', async () => {
    const [mine, theirs] = await Promise.all([call('gpumod_status', {}), cli(['status', '--json'])]);
    assert.equal(mine.mode, 'blank');
    assert.equal(mine.mode, theirs.mode);
    const states = (s: Record<string, unknown>): string[] => (s.services as Array<{ name: string; state: string }>).map((x) => `${x.name}:${x.state}`);
    assert.deepEqual(states(mine), states(theirs));
    const [plan, cliPlan] = await Promise.all([call('gpumod_plan', { mode: 'code' }), cli(['plan', 'code', '--json'])]);
    const steps = (p: Record<string, unknown>): string[] => (p.steps as Array<{ service: string; action: string }>).map((s) => `${s.action} ${s.service}`);
    assert.deepEqual(steps(plan), steps(cliPlan));
    assert.match(String(plan.summary), /^blank → code/);
  });

  it('a mode that does not exist is refused, naming the modes', async () => {
    await assert.rejects(call('gpumod_plan', { mode: 'party' }), /mode "party": the modes are code, rag, speak, blank/);
  });

  it('gpumod_switch_mode asks with the real plan, then switches: the status bar follows', async () => {
    const planned = (await cli(['plan', 'code', '--json'])) as { steps: Array<{ service: string; action: string }> };
    const result = call('gpumod_switch_mode', { mode: 'code' });
    await until('the switching status', () => api.switching()?.to === 'code', 30000);
    assert.match(api.statusBar().text, /^\$\(sync~spin\) blank → code$/);
    const asked = api.lastToolConfirmation();
    assert.equal(asked?.tool, 'gpumod_switch_mode');
    assert.equal(asked?.title, 'Switch the GPU to mode "code"?');
    assert.match(asked?.message ?? '', /blank → code: .*estimate/);
    for (const s of planned.steps.filter((x) => x.action !== 'keep')) assert.match(asked?.message ?? '', new RegExp(`\\b${s.action}\\b.*\\b${s.service}\\b`), `the confirmation lacks ${s.action} ${s.service}`);
    const r = await result;
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.mode, 'code');
    await api.refresh();
    assert.equal(api.mode(), 'code');
    assert.match(api.statusBar().text, /^\$\(circuit-board\) code · /);
    assert.equal((await cli(['status', '--json'])).mode, 'code');
  });

  it('gpumod_service_action asks, naming the service\'s state, and acts on that service alone; then back to blank', async () => {
    const r = await call('gpumod_service_action', { service: 'vllm-embedding-code', action: 'restart' });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(api.lastToolConfirmation(), { tool: 'gpumod_service_action', title: 'Restart vllm-embedding-code?', message: 'vllm-embedding-code is running now. Requests it is serving are lost.' });
    assert.equal(api.mode(), 'code');
    await vscode.commands.executeCommand('gpumod.switchMode', 'blank');
    await api.refresh();
    assert.equal(api.mode(), 'blank');
  });
});
