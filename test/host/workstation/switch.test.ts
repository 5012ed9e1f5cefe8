import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { until } from '../support/until';
import type { GpumodApi } from '../../../src/ui/api';

/**
 * The extension in a real VS Code, in front of the demo workstation: eight fakes running as units of
 * a real systemd user manager, a fake nvidia-smi. Commands switch for real; the status bar and the
 * services view must follow what is observed.
 */


describe('switching modes from VS Code against real systemd units', function () {
  this.timeout(120000);
  let api: GpumodApi;

  before(async () => {
    const ext = vscode.extensions.getExtension<GpumodApi>('gpumod.gpumod');
    assert.ok(ext);
    api = await ext.activate();
    await until('the first observation', () => api.services().length === 8 && api.services().every((s) => s.state !== 'unknown') && api.statusBar().text.includes('·'));
  });

  it('starts in no mode with every service stopped, and says so', async () => {
    await api.refresh();
    assert.deepEqual([...new Set(api.services().map((s) => s.state))], ['stopped']);
    assert.match(api.statusBar().text, /^\$\(circuit-board\) blank · 0\.0\/32\.6 GB$/);
    assert.equal(api.statusBar().command, 'gpumod.switchMode');
    assert.match(api.statusBar().tooltip, /\| vllm-chat \| stopped \| – \|/);
  });

  it('gpumod.switchMode code starts the code services; the status bar and tree follow', async () => {
    const running = vscode.commands.executeCommand('gpumod.switchMode', 'code');
    // While it runs: a spinner and "blank → code", and no click.
    await until('the switching status', () => api.switching());
    assert.match(api.statusBar().text, /^\$\(sync~spin\) blank → code$/);
    assert.equal(api.statusBar().command, undefined);
    await running;
    await api.refresh();
    assert.equal(api.mode(), 'code');
    assert.match(api.statusBar().text, /^\$\(circuit-board\) code · 2\d\.\d\/32\.6 GB$/);
    const byName = new Map(api.services().map((s) => [s.name, s]));
    assert.equal(byName.get('glm-code')?.state, 'running');
    assert.equal(byName.get('vllm-embedding-code')?.state, 'running');
    assert.match(byName.get('glm-code')?.contextValue ?? '', /^svc:running .*\+sleep( |$)/);
  });

  it('code → rag puts glm-code to sleep (model unloaded): the tree offers Wake, not Sleep', async () => {
    await vscode.commands.executeCommand('gpumod.switchMode', 'rag');
    await api.refresh();
    assert.equal(api.mode(), 'rag');
    const glm = api.services().find((s) => s.name === 'glm-code');
    assert.equal(glm?.state, 'sleeping');
    assert.equal(glm?.sleep, 'router');
    assert.match(glm?.contextValue ?? '', /\+wake( |$)/);
    assert.doesNotMatch(glm?.contextValue ?? '', /\+sleep( |$)/);
    assert.match(glm?.description ?? '', /^asleep \(model unloaded\) · 300 MB · :\d+$/);
    for (const n of ['vllm-embedding', 'vllm-reranker', 'vllm-hyde', 'vllm-chat']) {
      assert.equal(api.services().find((s) => s.name === n)?.state, 'running', n);
    }
  });

  it('a service action from the palette with an argument changes only that service', async () => {
    await vscode.commands.executeCommand('gpumod.sleepService', 'vllm-chat');
    await api.refresh();
    const chat = api.services().find((s) => s.name === 'vllm-chat');
    assert.equal(chat?.state, 'sleeping');
    assert.equal(chat?.sleep, 'l1');
    assert.equal(api.services().find((s) => s.name === 'vllm-hyde')?.state, 'running');
    // rag is no longer whole: no mode, and a warning colour.
    assert.equal(api.mode(), undefined);
    assert.equal(api.statusBar().warning, true);
    await vscode.commands.executeCommand('gpumod.wakeService', 'vllm-chat');
    await api.refresh();
    assert.equal(api.mode(), 'rag');
  });

  it('while the CLI switches in another process, the window follows it and does not switch itself', async () => {
    await vscode.commands.executeCommand('gpumod.switchMode', 'blank');
    const cli = join(vscode.extensions.getExtension('gpumod.gpumod')!.extensionPath, 'dist/cli.js');
    const child = spawn(process.execPath, [cli, 'switch', 'speak', '--json'], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number>((r) => child.on('exit', (c) => r(c ?? -1)));
    await until('the other process switching, seen through the shared state file', () => api.switching()?.to === 'speak');
    assert.match(api.statusBar().text, /^\$\(sync~spin\) .* → speak$/);
    await vscode.commands.executeCommand('gpumod.switchMode', 'code'); // refused: a switch is under way
    assert.equal(await exited, 0, out);
    assert.equal(JSON.parse(out).to, 'speak');
    await until('the window to show speak', () => api.mode() === 'speak' && !api.switching());
    assert.equal(api.services().find((s) => s.name === 'glm-code')?.state !== 'running', true, 'the window did not switch to code');
  });

  it('back to blank: nothing awake, the card almost empty', async () => {
    await vscode.commands.executeCommand('gpumod.switchMode', 'blank');
    await api.refresh();
    assert.equal(api.mode(), 'blank');
    assert.ok(api.services().every((s) => s.state === 'sleeping' || s.state === 'stopped'), JSON.stringify(api.services()));
  });
});
