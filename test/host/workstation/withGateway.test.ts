import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { parseDocument } from 'yaml';
import { until } from '../support/until';
import type { GpumodApi } from '../../../src/ui/api';

/**
 * The window and a running gateway (issue 16): the user adds a `gateway:` section, the services view
 * shows the gateway not running, then running once started; the window then renders the gateway's
 * events instead of looking itself, and shows a request's idle timer, the idle sleep that follows and
 * the mode it keeps ("code (glm-code idle, asleep)").
 */
describe('the window follows a running gateway', function () {
  this.timeout(120000);
  const configPath = process.env.GPUMOD_CONFIG as string;
  const port = Number(process.env.GPUMOD_HOST_GATEWAY_PORT ?? 19850);
  let api: GpumodApi;
  let original: string;
  let gateway: ChildProcess | undefined;
  let stderr = '';

  before(async () => {
    assert.ok(configPath, 'the workstation fixture names its config in GPUMOD_CONFIG');
    api = await vscode.extensions.getExtension<GpumodApi>('gpumod.gpumod')!.activate();
    original = readFileSync(configPath, 'utf8');
    await vscode.commands.executeCommand('gpumod.switchMode', 'code');
    await api.refresh();
    assert.equal(api.mode(), 'code');
  });

  after(async () => {
    gateway?.kill('SIGTERM');
    if (gateway && gateway.exitCode === null) await new Promise((r) => gateway?.once('exit', r));
    writeFileSync(configPath, original);
    await until('the config without a gateway', () => api.gateway() === undefined);
    // The suites after this one (auto-switch) start from the machine as the first suite left it: blank.
    await vscode.commands.executeCommand('gpumod.switchMode', 'blank');
    await api.refresh();
    assert.equal(api.mode(), 'blank');
  });

  it('a config with a gateway shows it not running; started, running, and the window stops looking itself', async () => {
    const doc = parseDocument(original);
    doc.set('gateway', doc.createNode({ port }));
    doc.setIn(['services', 'glm-code', 'idle_sleep_s'], 3);
    writeFileSync(configPath, doc.toString());
    assert.equal(api.gateway(), undefined, 'no gateway row before the config has a gateway');
    const down = await until('the gateway row, not running', () => (api.gateway()?.tooltip.includes(`:${port}/`) ? api.gateway() : undefined));
    assert.equal(down.running, false);
    assert.equal(down.description, 'not running');

    const cli = join(vscode.extensions.getExtension('gpumod.gpumod')!.extensionPath, 'dist/cli.js');
    gateway = spawn(process.execPath, [cli, 'gateway'], { env: process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    gateway.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    // The window is told within its retry period (2 s at first, doubling while nothing answers).
    const up = await until('the gateway row, running and followed', () => (api.gateway()?.running && api.gateway()?.following ? api.gateway() : undefined), 60000).catch((e: Error) => {
      throw new Error(`${e.message}; gateway stderr: ${stderr.slice(-2000)}`);
    });
    assert.equal(up?.description, `127.0.0.1:${port}/v1`);
    assert.match(api.statusBar().tooltip, new RegExp(`Gateway: http://127\\.0\\.0\\.1:${port}/v1 \\(running\\)`));
  });

  it('a request through the gateway: the idle timer shows, then the idle sleep and the mode it keeps, all from the gateway\'s events', async () => {
    const looks = api.gateway()?.windowLooks ?? 0;
    const status = await new Promise<number>((resolve, reject) => {
      const body = JSON.stringify({ model: 'GLM-4.5-Air-Q4', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1 });
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(status, 200);
    const glm = (): { description: string } | undefined => api.services().find((s) => s.name === 'glm-code');
    await until('glm-code\'s idle timer in the services view', () => /idle, sleeps at /.test(glm()?.description ?? ''), 20000);
    await until('glm-code asleep for idleness', () => /^asleep .*idle: the next request wakes it/.test(glm()?.description ?? ''), 30000);
    assert.equal(api.mode(), 'code', 'idle sleep keeps the mode');
    assert.match(api.statusBar().tooltip, /\*\*Mode\*\* code \(glm-code idle, asleep\)/);
    assert.equal(api.statusBar().warning, false, 'an idle sleeper is no drift');
    assert.equal(api.gateway()?.windowLooks, looks, 'the window did not look at the machine itself while it followed the gateway');
  });

  it('the gateway stopped: the row says so and the window looks for itself again', async () => {
    gateway?.kill('SIGTERM');
    await until('the gateway row, not running', () => api.gateway()?.running === false && !api.gateway()?.following);
    const looks = api.gateway()?.windowLooks ?? 0;
    await api.refresh();
    assert.ok((api.gateway()?.windowLooks ?? 0) > looks);
    assert.equal(api.services().find((s) => s.name === 'glm-code')?.state, 'sleeping');
  });
});
