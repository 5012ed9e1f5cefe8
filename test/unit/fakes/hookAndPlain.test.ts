// The hook server (FastAPI-style lazy model), the plain server, and the options every fake shares.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakePath, startFake, type RunningFake } from '../../fakes/lib/spawnFake';
import { http, json, waitFor } from '../../fakes/lib/testHttp';

describe('fake hook server, plain server and common options', function () {
  this.timeout(10000);
  const fakes: RunningFake[] = [];
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-gpu-'));
  });
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (name: 'hookServer' | 'plainServer', args: string[]): Promise<RunningFake> => {
    const f = await startFake(name, ['--gpu-dir', dir, ...args]);
    fakes.push(f);
    return f;
  };
  const usedMb = (pid: number): number => (JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as { usedMb: number }).usedMb;

  it('hook server: /load and /unload move the model, /status and the VRAM follow', async () => {
    const f = await start('hookServer', ['--startup-ms', '0', '--load-on-start', 'off', '--load-ms', '200', '--unload-ms', '20', '--vram-mb', '2500', '--vram-asleep-mb', '500']);
    assert.equal((await http('GET', `${f.url}/status`)).body, '{"loaded":false,"state":"unloaded"}');
    assert.equal((await http('GET', `${f.url}/health`)).body, '{"status":"ok"}');
    assert.equal(usedMb(f.pid), 500);
    const loading = http('POST', `${f.url}/load`);
    await waitFor('loading', async () => (await http('GET', `${f.url}/status`)).body === '{"loaded":false,"state":"loading"}');
    assert.equal(usedMb(f.pid), 2500, 'growth shows at once');
    const loaded = await loading;
    assert.equal(loaded.status, 200);
    assert.equal(loaded.body, '{"loaded":true,"state":"loaded"}');
    assert.ok(loaded.ms >= 150, `load took ${loaded.ms} ms`);
    assert.equal((await http('POST', `${f.url}/unload`)).body, '{"loaded":false,"state":"unloaded"}');
    assert.equal(usedMb(f.pid), 500);
    assert.equal((await http('GET', `${f.url}/load`)).body, '{"detail":"Method Not Allowed"}');
    const nf = await http('GET', `${f.url}/nope`);
    assert.equal(nf.status, 404);
    assert.equal(nf.body, '{"detail":"Not Found"}');
    // Lazy: an inference request loads the model.
    assert.equal((await http('POST', `${f.url}/transcribe`, '{}')).status, 200);
    assert.equal((await json('GET', `${f.url}/status`)).body, '{"loaded":true,"state":"loaded"}');
  });

  it('hook server: --oom refuses a load that does not fit; faults inject a 500', async () => {
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify([{ pid: 1, usedMb: 30000, gpu: 0 }]));
    const f = await start('hookServer', ['--startup-ms', '0', '--load-on-start', 'off', '--load-ms', '10', '--oom', 'on', '--gpu-total-mb', '32000', '--fault', '/status:500:1:1']);
    const oom = await json('POST', `${f.url}/load`);
    assert.equal(oom.status, 500);
    assert.match((oom.value as { detail: string }).detail, /CUDA out of memory/);
    assert.equal((await http('GET', `${f.url}/status`)).status, 200, 'AFTER_N=1: the first call succeeds');
    assert.equal((await http('GET', `${f.url}/status`)).status, 500);
    assert.equal((await http('GET', `${f.url}/status`)).status, 200, 'TIMES=1: it fires once');
  });

  it('plain server: holds its VRAM from start to exit; SIGTERM releases it with the stop lag', async () => {
    const f = await start('plainServer', ['--startup-ms', '0', '--vram-mb', '3000', '--stop-ms', '400']);
    assert.equal((await http('GET', `${f.url}/health`)).status, 200);
    assert.equal(usedMb(f.pid), 3000);
    const t0 = Date.now();
    assert.equal(await f.stop('SIGTERM'), 0);
    const took = Date.now() - t0;
    assert.ok(took >= 200 && took < 1000, `exit took ${took} ms`);
    const file = JSON.parse(readFileSync(join(dir, `${f.pid}.json`), 'utf8')) as { usedMb: number; prevMb: number; lagMs: number };
    assert.deepEqual([file.usedMb, file.prevMb, file.lagMs], [0, 3000, 400]);
  });

  it('--startup-ms: the port is not listened on until then; --time-scale divides it', async () => {
    const t0 = Date.now();
    await start('plainServer', ['--startup-ms', '3000', '--time-scale', '10']);
    const took = Date.now() - t0;
    assert.ok(took >= 300 && took < 2000, `started in ${took} ms`);
  });

  it('--config supplies options as JSON; --help and bad options', async () => {
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ startupMs: 0, 'vram-mb': 1234, fault: ['/health:500'] }));
    const f = await start('plainServer', ['--config', cfg]);
    assert.equal(usedMb(f.pid), 1234);
    assert.equal((await http('GET', `${f.url}/health`)).status, 500);

    const run = (name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((res) => execFile(process.execPath, [fakePath(name as 'vllm'), ...args], (err, stdout, stderr) => res({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr })));
    for (const name of ['vllm', 'llamaRouter', 'hookServer', 'plainServer']) {
      const help = await run(name, ['--help']);
      assert.equal(help.code, 0, name);
      assert.match(help.stdout, /--port/);
      assert.match(help.stdout, /--time-scale/);
    }
    const bad = await run('vllm', ['--no-such-option', '1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option --no-such-option/);
  });
});
