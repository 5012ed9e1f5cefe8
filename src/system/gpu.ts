// nvidia-smi and cgroup attribution: what the GPU holds, and which systemd unit holds it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpumodError, errorMessage } from '../errors';
import type { Logger } from '../engine/logger';
import { isNotFound, resolveBinary, runProcess, type Env, type ProcessResult } from './process';
import type { Gpu, GpuInfo, GpuLookOptions, GpuProcess, GpuSnapshot, ProcessOptions } from '../engine/machinePorts';
import { startGpuWatch, type GpuWatch } from './gpuWatch';
import { APPS_QUERY_ARGS, GPU_QUERY_ARGS, parseAppsQuery, parseGpuQuery, type AppRow, type GpuRow } from './smiCsv';

/** systemd escapes cgroup names that could clash with kernel files by prefixing "_". */
function cgUnescape(name: string): string {
  return name.startsWith('_') ? name.slice(1) : name;
}

/**
 * The unit owning a process, from the text of /proc/PID/cgroup: the `name=systemd` line (v1/hybrid)
 * or the `0::` line (v2); the last path component ending in .service or .scope, sub-cgroups below a
 * delegated unit skipped, and `user@UID.service` (the user manager itself) never returned.
 */
export function unitOfCgroupFile(text: string): string | undefined {
  const lines = text.split('\n');
  const path =
    lines.find((l) => /^\d+:name=systemd:/.test(l))?.replace(/^\d+:name=systemd:/, '') ??
    lines.find((l) => l.startsWith('0::'))?.slice(3);
  if (!path) return undefined;
  const parts = path.trim().split('/').filter(Boolean).map(cgUnescape);
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i];
    if (/^user@\d+\.service$/.test(p)) return undefined;
    if (p.endsWith('.service') || p.endsWith('.scope')) return p;
  }
  return undefined;
}

/** GPUs with their processes, joined on the uuid (compute-apps has no index). Apps on unknown GPUs are dropped. */
export function joinGpuApps(
  gpus: readonly GpuRow[],
  apps: readonly AppRow[],
  unitOf: (pid: number) => string | undefined,
  commandOf: (pid: number) => string[] | undefined = () => undefined,
): GpuInfo[] {
  return gpus.map((g) => ({
    ...g,
    processes: apps
      .filter((a) => a.gpuUuid === g.uuid)
      .map((a): GpuProcess => {
        const unit = unitOf(a.pid);
        if (unit === undefined) return { pid: a.pid, usedMb: a.usedMb };
        const command = commandOf(a.pid);
        return command === undefined ? { pid: a.pid, usedMb: a.usedMb, unit } : { pid: a.pid, usedMb: a.usedMb, unit, command };
      }),
  }));
}

/** argv from the text of /proc/PID/cmdline (NUL-separated; a process that retitled itself has one word). */
export function parseCmdline(text: string): string[] {
  return text.split('\0').filter((w) => w.length > 0);
}

export interface GpuOptions {
  /** Merged over process.env; GPUMOD_NVIDIA_SMI there points at a fake nvidia-smi. */
  env?: Env;
  /** Where /proc is; default /proc. */
  procRoot?: string;
  /** Per query; nvidia-smi answers in ~25 ms, a wedged driver can hang it. */
  timeoutMs?: number;
}

/** A look a watch cannot give within this long is taken by a one-shot query instead (one costs ~28 ms). */
const ONE_SHOT_MS = 60;

interface Following {
  watch: GpuWatch;
  users: number;
}

export function createGpu(log: Logger, options: GpuOptions = {}): Gpu {
  const env = options.env ?? {};
  const procRoot = options.procRoot ?? '/proc';
  const binary = (): string => resolveBinary('nvidia-smi', env);
  const following: Following[] = [];
  /** Why loop mode cannot be used here (missing, refused the option): one-shot queries from then on. */
  let noLoopMode: string | undefined;

  const query = (args: string[], opts?: ProcessOptions): Promise<ProcessResult> =>
    runProcess(binary(), args, { timeoutMs: opts?.timeoutMs ?? options.timeoutMs ?? 10_000, signal: opts?.signal, env, reject: false }, log);

  const unitOfPid = async (pid: number): Promise<string | undefined> => {
    try {
      return unitOfCgroupFile(await readFile(join(procRoot, String(pid), 'cgroup'), 'utf8'));
    } catch {
      return undefined; // exited meanwhile, or a PID from another PID namespace
    }
  };

  // A unit's process only: a llama.cpp router's children are told apart by their --alias/--model.
  const commandOfPid = async (pid: number): Promise<string[] | undefined> => {
    try {
      return parseCmdline(await readFile(join(procRoot, String(pid), 'cmdline'), 'utf8'));
    } catch {
      return undefined;
    }
  };

  const failed = (r: ProcessResult): GpuSnapshot | undefined => {
    if (r.exitCode === 0) return undefined;
    const said = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] || '(no output)';
    return { available: false, reason: `no NVIDIA GPU visible: nvidia-smi exited ${r.exitCode}: ${said}` };
  };

  const unavailable = (e: unknown): GpuSnapshot => {
    if (e instanceof GpumodError && e.code === 'CANCELLED') throw e;
    const why = isNotFound(e) ? `${binary()} not found` : errorMessage(e);
    return { available: false, reason: `no NVIDIA GPU visible: ${why}` };
  };

  const joined = async (gpus: GpuRow[], apps: AppRow[], t0: number): Promise<GpuSnapshot> => {
    if (gpus.length === 0) return { available: false, reason: 'no NVIDIA GPU visible: nvidia-smi listed no GPU' };
    const known = new Set(gpus.map((g) => g.uuid));
    for (const a of apps) if (!known.has(a.gpuUuid)) log.warn(`nvidia-smi: PID ${a.pid} on unknown GPU ${a.gpuUuid}`);
    const pids = [...new Set(apps.map((a) => a.pid))];
    const units = new Map(await Promise.all(pids.map(async (pid) => [pid, await unitOfPid(pid)] as const)));
    const owned = pids.filter((pid) => units.get(pid) !== undefined);
    const commands = new Map(await Promise.all(owned.map(async (pid) => [pid, await commandOfPid(pid)] as const)));
    return { available: true, gpus: joinGpuApps(gpus, apps, (pid) => units.get(pid), (pid) => commands.get(pid)), ms: Math.round(performance.now() - t0) };
  };

  const oneShot = async (opts: ProcessOptions | undefined, t0: number): Promise<GpuSnapshot> => {
    let gpuOut: ProcessResult;
    let appsOut: ProcessResult;
    try {
      [gpuOut, appsOut] = await Promise.all([query(GPU_QUERY_ARGS, opts), query(APPS_QUERY_ARGS, opts)]);
    } catch (e) {
      return unavailable(e);
    }
    const bad = failed(gpuOut) ?? failed(appsOut);
    return bad ?? joined(parseGpuQuery(gpuOut.stdout), parseAppsQuery(appsOut.stdout), t0);
  };

  /** A watch that ended after giving samples is worth another try; one that never gave any is not. */
  const judge = (w: GpuWatch): void => {
    if (!w.failed || w.failed === 'stopped' || w.latestAt() !== undefined || noLoopMode) return;
    noLoopMode = w.failed;
    log.info(`nvidia-smi loop mode unavailable (${noLoopMode}): one query per look`);
  };

  /** The fastest working watch, or undefined. */
  const watch = (): GpuWatch | undefined => {
    for (const f of following) judge(f.watch);
    return following.filter((f) => !f.watch.failed).sort((a, b) => a.watch.periodMs - b.watch.periodMs)[0]?.watch;
  };

  const fromWatch = async (w: GpuWatch, opts: GpuLookOptions | undefined, t0: number): Promise<GpuSnapshot | undefined> => {
    const notBefore = t0 - (opts?.maxAgeMs ?? 0);
    const due = w.nextDueAt();
    // A slow watch (a window's status polling) whose next sample is far off: a one-shot look is sooner.
    if (due !== undefined && (w.latestAt() ?? -Infinity) < notBefore && due - t0 > ONE_SHOT_MS) return undefined;
    const waitMs = Math.min(opts?.timeoutMs ?? options.timeoutMs ?? 10_000, Math.max(3 * w.periodMs, 2000));
    const s = await w.sample(notBefore, waitMs, opts?.signal, ONE_SHOT_MS);
    if (opts?.signal?.aborted) throw new GpumodError('CANCELLED', 'cancelled: nvidia-smi watch');
    if (!s) {
      judge(w);
      return undefined;
    }
    let apps = s.apps;
    if (apps === undefined) {
      try {
        const out = await query(APPS_QUERY_ARGS, opts);
        const bad = failed(out);
        if (bad) return bad;
        apps = parseAppsQuery(out.stdout);
      } catch (e) {
        return unavailable(e);
      }
    }
    return joined(s.gpus, apps, t0);
  };

  return {
    async snapshot(opts) {
      const t0 = performance.now();
      const w = watch();
      return (w && (await fromWatch(w, opts, t0))) || oneShot(opts, t0);
    },
    follow(periodMs) {
      if (noLoopMode) return () => undefined;
      let f = following.find((x) => x.watch.periodMs === periodMs && !x.watch.failed);
      if (!f) {
        f = { watch: startGpuWatch(binary(), env, periodMs, log), users: 0 };
        following.push(f);
      }
      const mine = f;
      mine.users++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        if (--mine.users > 0) return;
        judge(mine.watch);
        mine.watch.close();
        following.splice(following.indexOf(mine), 1);
      };
    },
  };
}
