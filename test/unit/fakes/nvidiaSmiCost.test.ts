// What one fake nvidia-smi call costs. The real one answers in ~28 ms (GPU query) / ~22 ms (apps) on
// an H100 (anchors.md); a fake that costs more is what a switch benchmark would measure instead.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBin } from '../../fakes/lib/spawnFake';

const GPU_QUERY = ['--query-gpu=index,uuid,name,memory.total,memory.used,memory.free', '--format=csv,noheader,nounits'];
const APPS_QUERY = ['--query-compute-apps=gpu_uuid,pid,used_memory', '--format=csv,noheader,nounits'];

/** `0m0.012s` → 12 (ms). */
const clockMs = (t: string): number => {
  const m = /^(\d+)m([\d.]+)s$/.exec(t);
  if (!m) throw new Error(`not a bash times figure: ${t}`);
  return Number(m[1]) * 60_000 + Number(m[2]) * 1000;
};

/**
 * One call: its wall time from spawn to exit, and the CPU time it used (user + system, as bash's
 * `times` reports its children), which a loaded machine does not inflate the way it does wall time.
 */
function timed(dir: string, args: string[], latencyMs: string): Promise<{ wall: number; cpu: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((res, rej) =>
    execFile('bash', ['-c', '"$@"; echo @@; times', 'bash', fakeBin('nvidia-smi'), ...args], { env: { ...process.env, FAKE_GPU_DIR: dir, FAKE_GPU_LATENCY_MS: latencyMs } }, (err, stdout) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      if (err) return rej(err);
      const [out, times] = stdout.split('@@\n');
      if (!/^\S.*, \d+\n/.test(out)) return rej(new Error(`unexpected output: ${stdout}`));
      const children = times.trim().split('\n')[1]?.trim().split(/\s+/) ?? [];
      res({ wall, cpu: children.reduce((sum, t) => sum + clockMs(t), 0) });
    }),
  );
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('fake nvidia-smi: cost of a call', function () {
  this.timeout(20000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-gpu-'));
    // A typical machine: a few holders, one of them releasing, one dead, a foreign process.
    const now = Date.now();
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, usedMb: 7000, gpu: 0, prevMb: 7000, changedAt: now, lagMs: 0 }));
    writeFileSync(join(dir, `${process.ppid}.json`), JSON.stringify({ pid: process.ppid, usedMb: 1500, gpu: 0, prevMb: 7000, changedAt: now, lagMs: 25, name: 'VLLM::EngineCore' }));
    writeFileSync(join(dir, '4194300.json'), JSON.stringify({ pid: 4194300, usedMb: 0, gpu: 0, prevMb: 3000, changedAt: now, lagMs: 800 }));
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify([{ pid: 4242, usedMb: 2000, gpu: 0 }]));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const list = (xs: number[]): string => `${xs.map((x) => x.toFixed(1)).join(', ')} ms`;

  it('FAKE_GPU_LATENCY_MS=0: the median call costs well under the real 28 ms (< 20 ms of CPU)', async () => {
    for (const args of [GPU_QUERY, APPS_QUERY]) {
      await timed(dir, args, '0'); // warm the page cache
      const runs: Array<{ wall: number; cpu: number }> = [];
      for (let i = 0; i < 10; i++) runs.push(await timed(dir, args, '0'));
      assert.ok(median(runs.map((r) => r.cpu)) < 20, `${args[0]}: CPU ${list(runs.map((r) => r.cpu))} (wall ${list(runs.map((r) => r.wall))})`);
    }
  });

  it('FAKE_GPU_LATENCY_MS=25: a call takes at least 25 ms, waiting rather than computing, like the real one', async () => {
    const runs: Array<{ wall: number; cpu: number }> = [];
    for (let i = 0; i < 10; i++) runs.push(await timed(dir, GPU_QUERY, '25'));
    assert.ok(Math.min(...runs.map((r) => r.wall)) >= 25, `never faster than its latency: ${list(runs.map((r) => r.wall))}`);
    assert.ok(median(runs.map((r) => r.cpu)) < 20, `the latency is a wait, not work: CPU ${list(runs.map((r) => r.cpu))}`);
  });
});
