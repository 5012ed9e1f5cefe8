// The fake nvidia-smi's loop mode (-l SEC, -lms MS), as gpumod's GPU watch will read it: one process,
// a sample per period, the header once, whole samples per write, and an end when it is killed.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBin } from '../../fakes/lib/spawnFake';
import { waitFor } from '../../fakes/lib/testHttp';

const STAMP = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})$/;

/** Epoch ms of a `timestamp` cell (local time, as the real tool prints it). */
function stampMs(cell: string): number {
  const m = STAMP.exec(cell);
  assert.ok(m, `not a timestamp: ${JSON.stringify(cell)}`);
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map(Number);
  return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
}

interface Chunk {
  at: number;
  text: string;
}

interface Loop {
  proc: ChildProcessWithoutNullStreams;
  startedAt: number;
  /** Every stdout read, in order, with its arrival time. */
  chunks: Chunk[];
  stdout(): string;
  lines(): string[];
  stderr(): string;
  /** Resolves with [exit code, signal] once the process is gone and its pipes are closed. */
  closed: Promise<[number | null, NodeJS.Signals | null]>;
}

function loop(dir: string, args: string[], env: Record<string, string> = {}): Loop {
  const proc = spawn(fakeBin('nvidia-smi'), args, { env: { ...process.env, FAKE_GPU_DIR: dir, FAKE_GPU_LATENCY_MS: '0', ...env } });
  const chunks: Chunk[] = [];
  let err = '';
  proc.stdout.on('data', (d: Buffer) => chunks.push({ at: Date.now(), text: d.toString() }));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((res) => proc.once('close', (code, signal) => res([code, signal])));
  running.add(proc);
  void closed.then(() => running.delete(proc));
  const stdout = (): string => chunks.map((c) => c.text).join('');
  return { proc, startedAt: Date.now(), chunks, stdout, lines: () => stdout().split('\n').filter(Boolean), stderr: () => err, closed };
}

const running = new Set<ChildProcessWithoutNullStreams>();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fake nvidia-smi loop mode', function () {
  this.timeout(15000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-gpu-'));
  });
  afterEach(() => {
    for (const p of running) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const holding = (pid: number, usedMb: number, extra: Record<string, unknown> = {}): void =>
    writeFileSync(join(dir, `${pid}.json`), JSON.stringify({ pid, usedMb, gpu: 0, prevMb: usedMb, changedAt: Date.now(), lagMs: 0, ...extra }));

  it('-lms: the header once, then a sample per period, each GPU a line, one timestamp per sample, whole samples per write', async () => {
    holding(process.pid, 7000);
    const l = loop(dir, ['--query-gpu=timestamp,index,memory.used', '--format=csv', '-lms', '100'], { FAKE_GPU_TOTAL_MB: '32768,24576' });
    await waitFor('6 samples', () => l.lines().length >= 1 + 6 * 2, 5000);
    l.proc.kill('SIGTERM');
    await l.closed;
    const [header, ...rows] = l.lines();
    assert.equal(header, 'timestamp, index, memory.used [MiB]');
    assert.ok(!rows.includes(header), 'the header is printed once, not per sample');
    const samples: string[][] = [];
    for (let i = 0; i + 1 < rows.length; i += 2) samples.push([rows[i], rows[i + 1]]);
    const stamps = samples.map(([gpu0, gpu1]) => {
      const [s0, i0, m0] = gpu0.split(', ');
      const [s1, i1, m1] = gpu1.split(', ');
      assert.deepEqual([i0, m0, i1, m1], ['0', '7000 MiB', '1', '0 MiB']);
      assert.equal(s0, s1, 'the lines of one sample share its timestamp');
      return stampMs(s0);
    });
    assert.ok(Math.abs(stamps[0] - l.startedAt) < 2000, `local time: ${stamps[0]} vs ${l.startedAt}`);
    const gaps = stamps.slice(1).map((t, i) => t - stamps[i]);
    // On the period's schedule: a sample woken late (a loaded machine) is followed by a shorter gap, never a burst.
    for (const gap of gaps) assert.ok(gap >= 50 && gap <= 250, `samples every 100 ms: ${gaps.join(', ')}`);
    const mean = (stamps[stamps.length - 1] - stamps[0]) / gaps.length;
    assert.ok(mean >= 95 && mean <= 150, `samples every 100 ms on average: ${gaps.join(', ')}`);
    // A reader sees whole samples: every write ends a sample (header with the first one).
    for (const c of l.chunks) {
      assert.match(c.text, /\n$/);
      assert.equal(c.text.split('\n').filter((x) => x && x !== header).length % 2, 0, JSON.stringify(c.text));
    }
  });

  it('-l: whole seconds, noheader, nounits', async () => {
    holding(process.pid, 1234);
    const l = loop(dir, ['--query-gpu=timestamp,memory.used', '--format=csv,noheader,nounits', '-l', '1']);
    await waitFor('2 samples', () => l.lines().length >= 2, 4000);
    l.proc.kill('SIGTERM');
    const [a, b] = l.lines().map((x) => x.split(', '));
    assert.equal(a[1], '1234');
    const gap = stampMs(b[0]) - stampMs(a[0]);
    assert.ok(gap >= 900 && gap <= 1300, `a second apart: ${gap}`);
  });

  it('the first sample waits FAKE_GPU_LATENCY_MS (driver init), later ones only their period', async () => {
    const l = loop(dir, ['--query-gpu=index', '--format=csv,noheader', '--loop-ms=50'], { FAKE_GPU_LATENCY_MS: '300' });
    await waitFor('3 samples', () => l.lines().length >= 3, 5000);
    l.proc.kill('SIGTERM');
    assert.ok(l.chunks[0].at - l.startedAt >= 300, `first after ${l.chunks[0].at - l.startedAt} ms`);
    // One line per sample here, so the third line's chunk is the third sample's (or a later one's).
    const third = l.chunks.findIndex((_c, i) => l.chunks.slice(0, i + 1).map((c) => c.text).join('').split('\n').length > 3);
    assert.ok(l.chunks[third].at - l.chunks[0].at < 300, 'later samples do not pay the driver latency again');
  });

  it('compute apps: a line per process per sample, nothing at all in a sample without a process', async () => {
    const l = loop(dir, ['--query-compute-apps=timestamp,pid,used_memory', '--format=csv,noheader,nounits', '-lms', '50']);
    await sleep(400);
    assert.equal(l.stdout(), '', 'no process: silence, not an empty line');
    holding(process.pid, 3000);
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify([{ pid: 4343, usedMb: 100, gpu: 0 }, { pid: 4242, usedMb: 500, gpu: 0 }]));
    await waitFor('3 samples of 3 processes', () => l.lines().length >= 9, 3000);
    unlinkSync(join(dir, `${process.pid}.json`));
    unlinkSync(join(dir, 'foreign.json'));
    await sleep(120); // a sample already begun may still come
    const settled = l.stdout().length;
    await sleep(400);
    assert.equal(l.stdout().length, settled, 'silent again once no process holds memory');
    l.proc.kill('SIGTERM');
    const bySample = new Map<string, string[]>();
    for (const [stamp, pid, mb] of l.lines().map((x) => x.split(', '))) {
      stampMs(stamp);
      bySample.set(stamp, [...(bySample.get(stamp) ?? []), `${pid}:${mb}`]);
    }
    // Rows in PID order; the two files appear (and go) one after the other, so some samples hold a part.
    const want = [[4242, '4242:500'], [4343, '4343:100'], [process.pid, `${process.pid}:3000`]] as const;
    const sorted = [...want].sort((a, b) => a[0] - b[0]).map((w) => w[1]);
    const samples = [...bySample.values()];
    for (const rows of samples) assert.deepEqual(rows, sorted.filter((r) => rows.includes(r)), JSON.stringify(samples));
    assert.ok(samples.filter((rows) => rows.length === 3).length >= 3, JSON.stringify(samples));
  });

  it('a release lag shows in a later sample, at changedAt + lagMs', async () => {
    const changedAt = Date.now();
    holding(process.pid, 1500, { prevMb: 7000, changedAt, lagMs: 500 });
    const l = loop(dir, ['--query-gpu=timestamp,memory.used', '--format=csv,noheader,nounits', '-lms', '50']);
    await waitFor('the release to show', () => l.lines().some((x) => x.endsWith(', 1500')), 3000);
    await sleep(120);
    l.proc.kill('SIGTERM');
    const samples = l.lines().map((x) => x.split(', ')).map(([s, mb]) => ({ at: stampMs(s), mb }));
    assert.ok(samples.filter((s) => s.mb === '7000').length >= 3, 'the old value while the release lags');
    for (const s of samples) assert.equal(s.mb, s.at < changedAt + 500 ? '7000' : '1500', JSON.stringify(samples));
  });

  it('ends quietly on SIGTERM, SIGINT and SIGPIPE, and when its reader goes away', async () => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGPIPE'] as const) {
      const l = loop(dir, ['--query-gpu=index', '--format=csv,noheader', '-lms', '20']);
      await waitFor('a sample', () => l.lines().length >= 2, 3000);
      const t0 = Date.now();
      l.proc.kill(signal);
      const [code, sig] = await l.closed;
      assert.deepEqual([code, sig], [null, signal]);
      assert.ok(Date.now() - t0 < 1000);
      assert.equal(l.stderr(), '');
    }
    // The reader closes the pipe: the next sample's write ends the loop (no spinning on a dead pipe).
    const l = loop(dir, ['--query-gpu=index', '--format=csv,noheader', '-lms', '20']);
    await waitFor('a sample', () => l.lines().length >= 1, 3000);
    l.proc.stdout.destroy();
    const [code, sig] = await Promise.race([l.closed, sleep(2000).then(() => ['still running', null] as const)]);
    assert.ok(sig === 'SIGPIPE' || code === 0, `ended by its closed stdout: ${code} ${sig}`);
    assert.equal(l.stderr(), '');
  });

  it('FAKE_GPU_FAIL: hang hangs the loop too (until killed); missing-driver exits 9 at once', async () => {
    const hung = loop(dir, ['--query-gpu=index', '--format=csv', '-lms', '50'], { FAKE_GPU_FAIL: 'hang' });
    await sleep(400);
    assert.equal(hung.stdout(), '');
    assert.equal(hung.proc.exitCode, null);
    hung.proc.kill('SIGTERM');
    assert.deepEqual(await hung.closed, [null, 'SIGTERM']);
    const t0 = Date.now();
    const missing = loop(dir, ['--query-gpu=index', '--format=csv', '-lms', '50'], { FAKE_GPU_FAIL: 'missing-driver', FAKE_GPU_LATENCY_MS: '5000' });
    assert.deepEqual(await missing.closed, [9, null]);
    assert.ok(Date.now() - t0 < 1000);
    assert.match(missing.stderr(), /^NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
  });

  it('rejects a loop period that is not a positive integer (exit 2)', async () => {
    for (const args of [['-lms', '0'], ['--loop=x'], ['-l']]) {
      const l = loop(dir, ['--query-gpu=index', '--format=csv', ...args]);
      const [code] = await l.closed;
      assert.equal(code, 2, args.join(' '));
    }
  });
});
