import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { CLOCK_TICKS, sampleTree, treeCpu, type CpuSample } from '../../host/support/procCpu';

/** A child that burns CPU for `ms`, then exits (or, with `stay`, then waits to be killed). */
function burner(ms: number, stay = false): { exited: Promise<void>; kill(): void; pid: number } {
  const code = `const end = Date.now() + ${ms}; while (Date.now() < end); ${stay ? 'setInterval(() => {}, 1000);' : ''}`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  return { exited: new Promise((r) => child.on('exit', () => r())), kill: () => child.kill(), pid: child.pid as number };
}

const stat = (pid: number, ppid: number, own: number, reaped = 0): [number, { pid: number; comm: string; ppid: number; own: number; reaped: number }] => [pid, { pid, comm: `p${pid}`, ppid, own, reaped }];
const at = (s: number, procs: ReturnType<typeof stat>[]): CpuSample => ({ at: BigInt(s * 1e9), procs: new Map(procs) });

describe('CPU time of a process tree (the host test of idle polling)', () => {
  it('counts a child that exited between the samples through its parent, without counting its earlier time twice', () => {
    // Root 1 with child 2 (50 ticks so far), which exits (at 80) and is reaped into 1's cutime.
    const a = at(0, [stat(1, 0, 100), stat(2, 1, 50)]);
    const b = at(10, [stat(1, 0, 110, 80)]);
    const t = treeCpu(a, b, 1);
    assert.equal(t.cpuSeconds, (10 + 30) / CLOCK_TICKS);
    assert.equal(t.parts['exited children'], Math.round((30 / CLOCK_TICKS / 10) * 100 * 1000) / 1000);
  });

  it('counts a child born since the first sample from zero, a long-lived one by its difference', () => {
    const a = at(0, [stat(1, 0, 100), stat(2, 1, 40)]);
    const b = at(10, [stat(1, 0, 100), stat(2, 1, 45), stat(3, 2, 7)]);
    assert.equal(treeCpu(a, b, 1).cpuSeconds, 12 / CLOCK_TICKS);
  });

  it('sees the real CPU of a child that ran and exited, and of one still running, and nothing of a stranger', async function () {
    this.timeout(10000);
    const a = sampleTree(process.pid);
    const gone = burner(300);
    await gone.exited;
    const live = burner(300, true);
    await new Promise((r) => setTimeout(r, 600));
    const b = sampleTree(process.pid);
    live.kill();
    assert.ok(b.procs.has(live.pid), 'the running child is in the tree');
    assert.ok(!b.procs.has(1) || process.pid === 1, 'PID 1 is not a descendant');
    const t = treeCpu(a, b, process.pid);
    // Two children of ~0.3 s of CPU each (plus node's start-up), this process mostly waiting.
    assert.ok(t.cpuSeconds >= 0.5, `${t.cpuSeconds} s`);
    assert.ok(t.parts['exited children'] >= (0.25 / t.seconds) * 100, JSON.stringify(t.parts));
    assert.ok((t.parts.node ?? 0) >= (0.25 / t.seconds) * 100, JSON.stringify(t.parts));
  });
});
