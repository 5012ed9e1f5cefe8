// Following the GPU with nvidia-smi's loop mode: two long-lived processes (`--query-gpu` and
// `--query-compute-apps` with `-lms PERIOD`) read line by line, instead of two processes per look.
// The first sample after a release is then at most one period away, with no start-up cost per look.
//
// What loop mode does not say, and how it is read here (protocols.md 3.1):
// - Each iteration's lines carry its `timestamp` (we ask for it first); a block is whole at the next
//   stamp, at one line per GPU (GPU query), or when the stream has been quiet QUIET_MS.
// - The apps query prints nothing in an iteration without a compute process. Silence is read as "no
//   process" only when the GPU query shows no memory in use; otherwise the caller asks once
//   (a stalled apps stream must never read as memory freed).
import type { Logger } from '../engine/logger';
import { APPS_FIELDS, GPU_FIELDS, parseAppsQuery, parseGpuQuery, type AppRow, type GpuRow } from './smiCsv';
import { LineGroups, type LineGroup } from './loopGroups';
import { spawnStream, type Env, type StreamingChild } from './process';

/** Lines of one iteration arrive together; this long without one ends the block. */
const QUIET_MS = 4;
/** Beyond one period, how long the apps stream may stay silent before silence means something. */
const APPS_SLACK_MS = 30;

export const WATCH_GPU_ARGS = (periodMs: number): string[] => [`--query-gpu=timestamp,${GPU_FIELDS.join(',')}`, '--format=csv,noheader,nounits', `-lms`, String(periodMs)];
export const WATCH_APPS_ARGS = (periodMs: number): string[] => [`--query-compute-apps=timestamp,${APPS_FIELDS.join(',')}`, '--format=csv,noheader,nounits', `-lms`, String(periodMs)];

export interface WatchSample {
  gpus: GpuRow[];
  /** undefined: the apps stream could not tell (silent while memory is in use): ask once. */
  apps: AppRow[] | undefined;
  /** performance.now() when the GPU block arrived. */
  at: number;
}

interface Block<T> {
  rows: T;
  at: number;
  stamp: string;
}

export interface GpuWatch {
  readonly periodMs: number;
  /** Why it no longer works (failed to start, ended, stalled); undefined while it works. */
  readonly failed: string | undefined;
  /** When the next GPU block is due (performance.now() ms); undefined before the first. */
  nextDueAt(): number | undefined;
  /** When the latest GPU block arrived (performance.now() ms); undefined before the first. */
  latestAt(): number | undefined;
  /**
   * The first sample whose GPU block arrived at or after `notBefore` (performance.now() ms), waiting at
   * most `waitMs`. undefined when none came (the watch is then marked failed and stopped) or on abort.
   * A silent apps stream is awaited at most `silenceMs` for its verdict: beyond, `apps` is undefined
   * (asking once is quicker than waiting a slow watch's period to learn that silence means no process).
   */
  sample(notBefore: number, waitMs: number, signal?: AbortSignal, silenceMs?: number): Promise<WatchSample | undefined>;
  close(): void;
}

export function startGpuWatch(binary: string, env: Env, periodMs: number, log: Logger): GpuWatch {
  let failed: string | undefined;
  let gpu: Block<GpuRow[]> | undefined;
  let apps: Block<AppRow[]> | undefined;
  let firstGpuAt: number | undefined;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };

  const children: StreamingChild[] = [];
  const fail = (why: string): void => {
    if (failed) return;
    failed = why;
    for (const c of children) c.stop();
    wake();
  };

  const quietly = (groups: LineGroups): ((line: string, at: number) => void) => {
    let timer: NodeJS.Timeout | undefined;
    return (line, at) => {
      if (!groups.push(line, at)) return;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (!groups.pending) return;
      // setImmediate after the timer: a poll phase runs between, so lines already in the pipe are read first.
      timer = setTimeout(() => setImmediate(() => groups.settle()), QUIET_MS);
    };
  };

  const gpuGroups = new LineGroups((g: LineGroup) => {
    const rows = parseGpuQuery(g.lines.join('\n'));
    if (rows.length === 0) return;
    gpuGroups.expected ??= rows.length;
    gpu = { rows, at: g.at, stamp: g.stamp };
    firstGpuAt ??= g.at;
    wake();
  });
  const appsGroups = new LineGroups((g: LineGroup) => {
    const rows = parseAppsQuery(g.lines.join('\n'));
    // Lines of a block that came after its quiet end belong to it still.
    apps = apps && apps.stamp === g.stamp ? { rows: [...apps.rows, ...rows], at: g.at, stamp: g.stamp } : { rows, at: g.at, stamp: g.stamp };
    wake();
  });

  for (const [args, groups] of [
    [WATCH_GPU_ARGS(periodMs), gpuGroups],
    [WATCH_APPS_ARGS(periodMs), appsGroups],
  ] as const) {
    children.push(spawnStream(binary, args, { env, onLine: quietly(groups), onExit: (why) => fail(why) }, log));
  }

  const until = (ready: () => boolean, deadline: number, signal?: AbortSignal): Promise<boolean> =>
    new Promise((resolve) => {
      if (ready()) return resolve(true);
      let timer: NodeJS.Timeout | undefined;
      const done = (ok: boolean): void => {
        waiters.delete(check);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const check = (): void => {
        if (ready()) done(true);
        else if (failed) done(false);
      };
      const onAbort = (): void => done(false);
      if (failed || signal?.aborted) return resolve(false);
      waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => done(ready()), Math.max(0, deadline - performance.now()));
    });

  return {
    periodMs,
    get failed() {
      return failed;
    },
    nextDueAt: () => (gpu ? gpu.at + periodMs : undefined),
    latestAt: () => gpu?.at,
    async sample(notBefore, waitMs, signal, silenceMs = Infinity) {
      const deadline = performance.now() + waitMs;
      const fresh = (b: Block<unknown> | undefined): boolean => b !== undefined && b.at >= notBefore;
      if (!(await until(() => fresh(gpu), deadline, signal))) {
        if (!failed && !signal?.aborted) fail(`no sample from nvidia-smi's loop mode within ${waitMs} ms`);
        return undefined;
      }
      const g = gpu as Block<GpuRow[]>;
      if (fresh(apps)) return { gpus: g.rows, apps: (apps as Block<AppRow[]>).rows, at: g.at };
      // The apps stream iterates with the GPU stream: its block is due within a period of the GPU's.
      const silentSince = Math.max(notBefore, firstGpuAt ?? notBefore);
      const appsDeadline = Math.min(deadline, silentSince + periodMs + APPS_SLACK_MS);
      const patience = Math.min(appsDeadline, performance.now() + silenceMs);
      if (await until(() => fresh(apps), patience, signal)) return { gpus: g.rows, apps: (apps as Block<AppRow[]>).rows, at: g.at };
      if (patience < appsDeadline) return { gpus: g.rows, apps: undefined, at: g.at };
      const idle = g.rows.every((r) => r.usedMb === 0);
      return { gpus: g.rows, apps: idle ? [] : undefined, at: g.at };
    },
    close(): void {
      fail('stopped');
    },
  };
}
