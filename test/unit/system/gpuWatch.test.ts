// The GPU watch against the fake nvidia-smi's loop mode (test/fakes/bin/nvidia-smi, a real process
// over the fake GPU directory): samples as a one-shot query would give them, fresh after a change,
// silence read safely, failures falling back to one-shot queries, and no process left behind.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { GpuSnapshot } from '../../../src/engine/machinePorts';
import { createGpu } from '../../../src/system/gpu';
import { silentLogger } from '../../../src/system/logger';
import { GpuHolding } from '../../fakes/lib/gpuFiles';

const FAKE = resolve(process.cwd(), 'test/fakes/bin/nvidia-smi');

function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { GPUMOD_NVIDIA_SMI: FAKE, FAKE_GPU_DIR: dir, FAKE_GPU_TOTAL_MB: '32768', FAKE_GPU_LATENCY_MS: '25', ...extra };
}

/** PIDs of live processes whose command line contains `marker` (the watch's unusual period). */
function watchers(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state !== 'Z' && cmd.includes('-lms') && cmd.includes(marker)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const used = (s: GpuSnapshot): number | undefined => (s.available ? s.gpus[0].usedMb : undefined);
const pids = (s: GpuSnapshot): number[] => (s.available ? s.gpus[0].processes.map((p) => p.pid) : []);

async function until(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('GPU watch (nvidia-smi loop mode)', function () {
  this.timeout(20000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-watch-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives what a one-shot query gives, and sees a release in the next sample', async () => {
    const holding = new GpuHolding(dir, process.pid, 0);
    holding.set(7000, 0);
    const gpu = createGpu(silentLogger, { env: envFor(dir) });
    const once = await gpu.snapshot();
    const unfollow = gpu.follow!(31);
    try {
      const watched = await gpu.snapshot();
      assert.deepEqual({ used: used(watched), pids: pids(watched) }, { used: used(once), pids: pids(once) });
      assert.equal(used(watched), 7000);
      assert.equal(watchers('31').length, 2, 'one GPU and one apps watcher');
      holding.set(1000, 0);
      const after = await gpu.snapshot();
      assert.equal(used(after), 1000, 'a look after the change shows it');
      // Looks cost a wait for the next sample, not a process: within a period and some slack each.
      const times: number[] = [];
      for (let i = 0; i < 8; i++) {
        const t0 = performance.now();
        const s = await gpu.snapshot();
        times.push(performance.now() - t0);
        assert.equal(used(s), 1000);
      }
      times.sort((a, b) => a - b);
      assert.ok(times[4] <= 31 + 25, `median look ${times[4].toFixed(1)} ms`);
    } finally {
      unfollow();
    }
    await until(() => watchers('31').length === 0, 5000);
  });

  it('reads an empty card as no processes without asking again, and silence beside used memory by asking once', async () => {
    const gpu = createGpu(silentLogger, { env: envFor(dir) });
    const unfollow = gpu.follow!(33);
    try {
      const empty = await gpu.snapshot();
      assert.equal(used(empty), 0);
      assert.deepEqual(pids(empty), []);
    } finally {
      unfollow();
    }
    // Memory in use that no compute process shows (another container's, say): the apps stream is
    // silent; the one-shot query settles it (and a stalled apps stream could not pass for "freed").
    const based = createGpu(silentLogger, { env: envFor(dir, { FAKE_GPU_BASE_MB: '600' }) });
    const off = based.follow!(34);
    try {
      const s = await based.snapshot();
      assert.equal(used(s), 600);
      assert.deepEqual(pids(s), []);
    } finally {
      off();
    }
  });

  it("a slow watch's first look on an empty card does not wait a period for the apps stream's silence", async () => {
    // The window's polling watch (period 5 s) starts with the first look: the GPU block arrives at
    // once, but "no compute process" shows only as a whole period of silence: one query settles it.
    const gpu = createGpu(silentLogger, { env: envFor(dir) });
    const unfollow = gpu.follow!(4000);
    try {
      const t0 = performance.now();
      const empty = await gpu.snapshot();
      const took = performance.now() - t0;
      assert.ok(took < 1000, `the first look took ${took.toFixed(0)} ms`);
      assert.equal(used(empty), 0);
      assert.deepEqual(pids(empty), []);
    } finally {
      unfollow();
    }
  });

  it('a look may take a recent sample when the caller says so, and a far-off one is not awaited', async () => {
    const gpu = createGpu(silentLogger, { env: envFor(dir) });
    const unfollow = gpu.follow!(2000);
    try {
      await gpu.snapshot(); // the first sample
      await new Promise((r) => setTimeout(r, 2100)); // a period on: the apps stream's silence now says "no process"
      const t0 = performance.now();
      const recent = await gpu.snapshot({ maxAgeMs: 5000 });
      assert.ok(performance.now() - t0 < 15, 'the latest sample, at once');
      assert.equal(used(recent), 0);
      const t1 = performance.now();
      const fresh = await gpu.snapshot();
      const took = performance.now() - t1;
      // The next sample is ~2 s away: a one-shot query answers in ~25 ms instead.
      assert.ok(took < 500, `fresh look took ${took.toFixed(0)} ms`);
      assert.equal(used(fresh), 0);
    } finally {
      unfollow();
    }
  });

  it('falls back to one-shot queries where loop mode fails, and stops trying it', async () => {
    const gpu = createGpu(silentLogger, { env: envFor(dir, { FAKE_GPU_FAIL: 'missing-driver' }) });
    const unfollow = gpu.follow!(35);
    const s = await gpu.snapshot();
    unfollow();
    assert.equal(s.available, false);
    assert.match(s.available ? '' : s.reason, /nvidia-smi exited 9/);
    await until(() => watchers('35').length === 0, 5000);
    gpu.follow!(36)();
    assert.equal(watchers('36').length, 0, 'no watch started once loop mode has failed');
  });

  it('a hung nvidia-smi costs a bounded look and leaves no process', async () => {
    const gpu = createGpu(silentLogger, { env: envFor(dir, { FAKE_GPU_FAIL: 'hang' }) });
    const unfollow = gpu.follow!(37);
    const t0 = performance.now();
    const s = await gpu.snapshot({ timeoutMs: 800 });
    const took = performance.now() - t0;
    unfollow();
    assert.equal(s.available, false);
    assert.ok(took < 3000, `took ${took.toFixed(0)} ms`);
    await until(() => watchers('37').length === 0, 5000);
  });

  it('several followers share one watch, which ends with the last', async () => {
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify([{ pid: 999999, usedMb: 2000, gpu: 0 }]));
    const gpu = createGpu(silentLogger, { env: envFor(dir) });
    const a = gpu.follow!(38);
    const b = gpu.follow!(38);
    try {
      const s = await gpu.snapshot();
      assert.equal(used(s), 2000);
      assert.deepEqual(pids(s), [999999]);
      assert.equal(watchers('38').length, 2);
      a();
      a(); // twice is once
      assert.equal(watchers('38').length, 2, 'still followed by b');
    } finally {
      b();
    }
    await until(() => watchers('38').length === 0, 5000);
  });
});
