// The fake nvidia-smi: output in the recorded format, release lags, foreign processes, failures,
// and the end-to-end path fake server → GPU dir → nvidia-smi.
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GpuHolding } from '../../fakes/lib/gpuFiles';
import { fakeBin, startFake } from '../../fakes/lib/spawnFake';
import { http, waitFor } from '../../fakes/lib/testHttp';

const FIXTURES = resolve(process.cwd(), 'test/fixtures');
const GPU_QUERY = '--query-gpu=index,uuid,name,memory.total,memory.used,memory.free';
const APPS_QUERY = '--query-compute-apps=gpu_uuid,pid,used_memory';
const CSV = '--format=csv,noheader,nounits';

// One line per GPU / per process, as in test/fixtures/nvidia-smi.
const GPU_LINE = /^\d+, GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}, [^,]+, \d+, \d+, \d+$/;
const GPU_LINE_EXTRA = /^\d+, GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}, [^,]+, \d+, \d+, \d+, \d+, \d+, \d+\.\d+$/;
const APPS_LINE = /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}, \d+, \d+$/;
const APPS_LINE_NAMED = /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}, \d+, [^,]+, \d+$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function smi(dir: string, args: string[], env: Record<string, string> = {}, timeoutMs = 5000): Promise<Run> {
  return new Promise((res) => {
    execFile(fakeBin('nvidia-smi'), args, { env: { ...process.env, FAKE_GPU_DIR: dir, FAKE_GPU_LATENCY_MS: '0', ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** The output lines of a recorded fixture (after its `$ command` and `# exit` lines). */
function fixtureLines(name: string): string[] {
  return readFileSync(join(FIXTURES, 'nvidia-smi', name), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('$ ') && !l.startsWith('# '));
}

/** A PID that existed and is gone now. */
function deadPid(): Promise<number> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['-e', '0']);
    p.once('exit', () => res(p.pid ?? 0));
  });
}

describe('fake nvidia-smi', function () {
  this.timeout(10000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-gpu-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const holding = (pid: number, usedMb: number, extra: Record<string, unknown> = {}): void =>
    writeFileSync(join(dir, `${pid}.json`), JSON.stringify({ pid, usedMb, gpu: 0, prevMb: usedMb, changedAt: Date.now(), lagMs: 0, ...extra }));

  it('the line formats match the recorded fixtures', async () => {
    for (const l of fixtureLines('nvidia-smi-gpu-awake-24GiB.txt')) assert.match(l, GPU_LINE_EXTRA);
    for (const l of fixtureLines('nvidia-smi-apps-awake-24GiB.txt')) assert.match(l, APPS_LINE_NAMED);
    assert.deepEqual(fixtureLines('nvidia-smi-apps-idle.txt'), []);

    holding(process.pid, 7000);
    const gpu = await smi(dir, [GPU_QUERY, CSV]);
    assert.equal(gpu.code, 0);
    assert.match(gpu.stdout, /\n$/);
    assert.equal(gpu.stdout, '0, GPU-0e90e587-2121-919b-2f88-bd4defb49400, NVIDIA GeForce RTX 5090, 32768, 7000, 25768\n');
    for (const l of gpu.stdout.trimEnd().split('\n')) assert.match(l, GPU_LINE);
    const extra = await smi(dir, ['--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu,power.draw', CSV]);
    assert.match(extra.stdout.trimEnd(), GPU_LINE_EXTRA);
    const apps = await smi(dir, [APPS_QUERY, CSV]);
    assert.equal(apps.stdout, `GPU-0e90e587-2121-919b-2f88-bd4defb49400, ${process.pid}, 7000\n`);
    assert.match(apps.stdout.trimEnd(), APPS_LINE);
    const named = await smi(dir, ['--query-compute-apps=gpu_uuid,pid,process_name,used_memory', CSV]);
    assert.match(named.stdout.trimEnd(), APPS_LINE_NAMED);
    // With header and units, as nvidia-smi-gpu-header.txt.
    const header = await smi(dir, ['--query-gpu=index,memory.total,memory.used,memory.free', '--format=csv']);
    assert.equal(header.stdout, 'index, memory.total [MiB], memory.used [MiB], memory.free [MiB]\n0, 32768 MiB, 7000 MiB, 25768 MiB\n');
    assert.equal(fixtureLines('nvidia-smi-gpu-header.txt')[0], header.stdout.split('\n')[0]);
  });

  it('no holders: apps print nothing; used 0', async () => {
    assert.equal((await smi(dir, [APPS_QUERY, CSV])).stdout, '');
    assert.match((await smi(dir, [GPU_QUERY, CSV])).stdout, /, 32768, 0, 32768\n$/);
  });

  it('a release shows after its lag; growth at once; a dead PID frees at once unless a release is pending', async () => {
    holding(process.pid, 1500, { prevMb: 7000, lagMs: 400 });
    assert.match((await smi(dir, [APPS_QUERY, CSV])).stdout, /, 7000\n$/);
    await new Promise((r) => setTimeout(r, 450));
    assert.match((await smi(dir, [APPS_QUERY, CSV])).stdout, /, 1500\n$/);
    holding(process.pid, 9000, { prevMb: 1500, lagMs: 5000 });
    assert.match((await smi(dir, [APPS_QUERY, CSV])).stdout, /, 9000\n$/);

    const dead = await deadPid();
    holding(dead, 3000);
    assert.doesNotMatch((await smi(dir, [APPS_QUERY, CSV])).stdout, new RegExp(`, ${dead}, `));
    holding(dead, 0, { prevMb: 3000, lagMs: 5000 }); // exited on SIGTERM a moment ago
    assert.match((await smi(dir, [APPS_QUERY, CSV])).stdout, new RegExp(`, ${dead}, 3000\n`));
    assert.match((await smi(dir, [GPU_QUERY, CSV])).stdout, /, 32768, 12000, 20768\n$/);
  });

  it('GpuHolding keeps showing a lagging release when it changes again', async () => {
    const h = new GpuHolding(dir, process.pid, 0);
    h.set(7000, 0);
    h.set(1500, 5000);
    h.set(1000, 0);
    assert.match((await smi(dir, [APPS_QUERY, CSV])).stdout, /, 7000\n$/);
  });

  it('foreign.json counts in used and in compute apps; several GPUs; -i filters', async () => {
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify([{ pid: 4242, usedMb: 2000, gpu: 0 }, { pid: 4343, usedMb: 1000, gpu: 1 }]));
    holding(process.pid, 500, { gpu: 1 });
    const env = { FAKE_GPU_TOTAL_MB: '32768,24576', FAKE_GPU_NAME: 'NVIDIA H100 80GB HBM3' };
    const gpus = (await smi(dir, [GPU_QUERY, CSV], env)).stdout.trimEnd().split('\n');
    assert.equal(gpus.length, 2);
    assert.match(gpus[0], /^0, GPU-\S+00, NVIDIA H100 80GB HBM3, 32768, 2000, 30768$/);
    assert.match(gpus[1], /^1, GPU-\S+01, NVIDIA H100 80GB HBM3, 24576, 1500, 23076$/);
    const apps = (await smi(dir, [APPS_QUERY, CSV], env)).stdout.trimEnd().split('\n');
    // Rows come GPU by GPU, in PID order within a GPU.
    const gpu1 = [[process.pid, `01 ${process.pid}, 500`], [4343, '01 4343, 1000']].sort((a, b) => Number(a[0]) - Number(b[0])).map((r) => r[1]);
    const want = ['00 4242, 2000', ...gpu1];
    assert.deepEqual(apps.map((l) => l.replace(/^GPU-\S+(\d\d), /, '$1 ')), want);
    assert.equal((await smi(dir, ['-i', '1', GPU_QUERY, CSV], env)).stdout.split('\n')[0], gpus[1]);
  });

  it('failure modes: missing driver (exit 9), [N/A] cells, hang, bad arguments (exit 2)', async () => {
    const missing = await smi(dir, [GPU_QUERY, CSV], { FAKE_GPU_FAIL: 'missing-driver' });
    assert.equal(missing.code, 9);
    assert.match(missing.stderr, /^NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\. Make sure that the latest NVIDIA driver is installed and running\./);
    holding(process.pid, 1000);
    const na = await smi(dir, [GPU_QUERY, CSV], { FAKE_GPU_FAIL: 'na' });
    assert.match(na.stdout, /^0, GPU-\S+, NVIDIA GeForce RTX 5090, \[N\/A\], \[N\/A\], \[N\/A\]\n$/);
    assert.match((await smi(dir, [APPS_QUERY, CSV], { FAKE_GPU_FAIL: 'na' })).stdout, /, \[N\/A\]\n$/);
    const t0 = Date.now();
    const hang = await smi(dir, [GPU_QUERY, CSV], { FAKE_GPU_FAIL: 'hang' }, 400);
    assert.ok(Date.now() - t0 >= 350 && hang.code !== 0, 'a hanging nvidia-smi must be killed by the timeout');
    assert.equal((await smi(dir, ['--bogus'])).code, 2);
    const field = await smi(dir, ['--query-gpu=index,bogus.field', CSV]);
    assert.equal(field.code, 2);
    assert.match(field.stdout, /"bogus.field" is not a valid field/);
    assert.equal((await smi(dir, [GPU_QUERY])).code, 2, '--format is required');
  });

  it('takes about FAKE_GPU_LATENCY_MS, like a real call', async () => {
    const t0 = Date.now();
    await smi(dir, [GPU_QUERY, CSV], { FAKE_GPU_LATENCY_MS: '300' });
    assert.ok(Date.now() - t0 >= 300);
  });

  it('holding files: any key order, whitespace, missing optional keys; a file that does not parse is ignored', async () => {
    writeFileSync(join(dir, `${process.pid}.json`), ` { "name" : "pid", "usedMb" : 640, "pid" : ${process.pid} }\n`);
    writeFileSync(join(dir, '1.json'), '{"pid":1,"usedMb":');
    writeFileSync(join(dir, '2.json'), '{"pid":1,"usedMb":05}');
    writeFileSync(join(dir, 'x.json'), JSON.stringify({ pid: 1, usedMb: 1 }));
    writeFileSync(join(dir, 'foreign.json'), '[{"usedMb":10,"pid":4242,"name":"a,b}c \\"q\\""}, 7, {"pid":"x"}]');
    const apps = await smi(dir, ['--query-compute-apps=pid,process_name,used_memory', CSV]);
    // Rows come sorted by PID; the test's own PID may be below or above 4242 (a fresh container starts low).
    const own = `${process.pid}, ${readFileSync('/proc/self/cmdline', 'utf8').split('\0')[0].split(' ')[0]}, 640\n`;
    const foreign = '4242, a,b}c "q", 10\n';
    assert.equal(apps.stdout, process.pid < 4242 ? own + foreign : foreign + own);
    writeFileSync(join(dir, 'foreign.json'), '[{"pid":4242,');
    assert.equal((await smi(dir, [APPS_QUERY, CSV])).stdout, `GPU-0e90e587-2121-919b-2f88-bd4defb49400, ${process.pid}, 640\n`);
  });

  it('the timestamp field: local time with milliseconds, on both queries', async () => {
    holding(process.pid, 700);
    const t0 = Date.now();
    const [gpu, apps] = await Promise.all([smi(dir, ['--query-gpu=timestamp,index', '--format=csv']), smi(dir, ['--query-compute-apps=timestamp,pid', '--format=csv'])]);
    for (const out of [gpu.stdout, apps.stdout]) {
      const [header, row] = out.trimEnd().split('\n');
      assert.match(header, /^timestamp, /);
      const m = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}), \d+$/.exec(row);
      assert.ok(m, row);
      const [y, mo, d, h, mi, sec, ms] = m.slice(1).map(Number);
      assert.ok(Math.abs(new Date(y, mo - 1, d, h, mi, sec, ms).getTime() - t0) < 2000, row);
    }
  });

  it('end to end: the fake sees a fake vLLM wake and sleep through the GPU dir', async () => {
    const fake = await startFake('vllm', ['--startup-ms', '0', '--sleep-ms-l1', '10', '--wake-ms-l1', '10', '--gpu-dir', dir, '--vram-mb', '7000', '--vram-asleep-mb', '1500', '--release-lag-ms', '300']);
    const viaWrapper = async (): Promise<string> => (await smi(dir, [APPS_QUERY, CSV])).stdout;
    try {
      const enginePid = ((await (await http('GET', `${fake.url}/_fake/state`)).body.match(/"gpuPid":(\d+)/)) ?? [])[1];
      assert.equal(await viaWrapper(), `GPU-0e90e587-2121-919b-2f88-bd4defb49400, ${enginePid}, 7000\n`);
      await http('POST', `${fake.url}/sleep?level=1`);
      assert.match(await viaWrapper(), /, 7000\n$/, '--release-lag-ms 300: not freed yet');
      await waitFor('the release to show', async () => (await viaWrapper()).endsWith(', 1500\n'), 2000, 50);
    } finally {
      await fake.stop('SIGKILL');
    }
  });
});
