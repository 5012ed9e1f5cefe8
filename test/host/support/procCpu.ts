import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** One process's line in /proc/PID/stat, the fields the CPU accounting needs (clock ticks). */
interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** Its own CPU time: utime + stime. */
  own: number;
  /** CPU time of its children that exited and were waited for: cutime + cstime. */
  reaped: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields from its closing one.
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' ');
    // f[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14-17.
    return { pid, comm: s.slice(s.indexOf('(') + 1, close), ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined; // exited while we walked /proc
  }
}

/** A process tree's CPU time at one moment: the root and every live descendant, each with its reaped children. */
export interface CpuSample {
  at: bigint;
  /** Per process: utime + stime + cutime + cstime, in ticks. */
  procs: Map<number, ProcStat>;
}

export function sampleTree(root: number): CpuSample {
  const at = process.hrtime.bigint();
  const all = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) all.set(st.pid, st);
  }
  const procs = new Map<number, ProcStat>();
  const rootStat = all.get(root);
  if (!rootStat) throw new Error(`no process ${root}`);
  procs.set(root, rootStat);
  // Descendants: repeat until no process joins (a child may be listed before its parent).
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all.values()) {
      if (!procs.has(p.pid) && procs.has(p.ppid)) {
        procs.set(p.pid, p);
        grew = true;
      }
    }
  }
  return { at, procs };
}

export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface TreeCpu {
  seconds: number;
  /** CPU time of the tree over the interval, in % of one core. */
  percent: number;
  cpuSeconds: number;
  /** The root's own CPU (utime + stime), % of one core. */
  rootPercent: number;
  /** Where the rest went: live descendants by command name, and children reaped meanwhile, % of one core. */
  parts: Record<string, number>;
  /** Processes in the tree at the end besides the root, e.g. "nvidia-smi (1234)". */
  liveChildren: string[];
}

/**
 * CPU time of `root` and its descendants between two samples. A process alive at both counts its
 * difference; one born since counts from zero; one that exited was reaped into its parent's cutime
 * and cstime, which count (what it had at the first sample is subtracted with it).
 */
export function treeCpu(a: CpuSample, b: CpuSample, root: number): TreeCpu {
  const seconds = Number(b.at - a.at) / 1e9;
  const pct = (ticks: number): number => Math.round((ticks / CLOCK_TICKS / seconds) * 100 * 1000) / 1000;
  const total = (s: CpuSample): number => [...s.procs.values()].reduce((n, p) => n + p.own + p.reaped, 0);
  const ticks = total(b) - total(a);
  const parts: Record<string, number> = {};
  const add = (k: string, t: number): void => void (parts[k] = (parts[k] ?? 0) + t);
  for (const p of b.procs.values()) {
    const before = a.procs.get(p.pid);
    add(p.pid === root ? 'extension host' : p.comm, p.own - (before?.own ?? 0));
    add('exited children', p.reaped - (before?.reaped ?? 0));
  }
  for (const p of a.procs.values()) if (!b.procs.has(p.pid)) add('exited children', -(p.own + p.reaped));
  const rootTicks = (b.procs.get(root)?.own ?? 0) - (a.procs.get(root)?.own ?? 0);
  return {
    seconds,
    percent: pct(ticks),
    cpuSeconds: ticks / CLOCK_TICKS,
    rootPercent: pct(rootTicks),
    parts: Object.fromEntries(Object.entries(parts).map(([k, t]) => [k, pct(t)])),
    liveChildren: [...b.procs.values()].filter((p) => p.pid !== root).map((p) => `${p.comm} (${p.pid})`),
  };
}
