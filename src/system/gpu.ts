// nvidia-smi and cgroup attribution: what the GPU holds, and which systemd unit holds it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpumodError, errorMessage } from '../errors';
import type { Logger } from '../engine/logger';
import { isNotFound, resolveBinary, runProcess, type Env, type ProcessResult } from './process';
import type { Gpu, GpuInfo, GpuProcess, GpuSnapshot, ProcessOptions } from '../engine/machinePorts';

export const GPU_FIELDS = ['index', 'uuid', 'name', 'memory.total', 'memory.used', 'memory.free'] as const;
/** No process_name: it may contain commas, which breaks the CSV (protocols.md 3.1). */
export const APPS_FIELDS = ['gpu_uuid', 'pid', 'used_memory'] as const;

export const GPU_QUERY_ARGS = [`--query-gpu=${GPU_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
export const APPS_QUERY_ARGS = [`--query-compute-apps=${APPS_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

export type GpuRow = Omit<GpuInfo, 'processes'>;

export interface AppRow {
  gpuUuid: string;
  pid: number;
  usedMb: number | undefined;
}

/** A cell as MiB; `[N/A]`, `[Not Supported]` and anything else non-numeric is unknown, not 0. */
function mib(cell: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(?:\s*MiB)?$/.exec((cell ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

function rows(text: string): string[][] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(', ').map((c) => c.trim()));
}

/**
 * `--query-gpu=…` output for the given field list (default index,uuid,name,memory.total,memory.used,
 * memory.free). Extra trailing fields, a header line and " MiB" units are tolerated.
 */
export function parseGpuQuery(text: string, fields: readonly string[] = GPU_FIELDS): GpuRow[] {
  const at = (name: string): number => fields.indexOf(name);
  const [iIndex, iUuid, iName, iTotal, iUsed, iFree] = ['index', 'uuid', 'name', 'memory.total', 'memory.used', 'memory.free'].map(at);
  const out: GpuRow[] = [];
  for (const cells of rows(text)) {
    if (cells.length < fields.length || !/^\d+$/.test(cells[iIndex] ?? '')) continue; // header line
    out.push({
      index: Number(cells[iIndex]),
      uuid: iUuid === -1 ? '' : cells[iUuid],
      name: iName === -1 ? '' : cells[iName],
      totalMb: mib(cells[iTotal]),
      usedMb: mib(cells[iUsed]),
      freeMb: mib(cells[iFree]),
    });
  }
  return out;
}

/**
 * `--query-compute-apps=…` output for the given field list (default gpu_uuid,pid,used_memory).
 * Empty output means no processes. When the list includes process_name (as the recordings do), the
 * cells beyond the field count are folded into it, so a name with ", " does not shift the columns.
 */
export function parseAppsQuery(text: string, fields: readonly string[] = APPS_FIELDS): AppRow[] {
  const iUuid = fields.indexOf('gpu_uuid');
  const iPid = fields.indexOf('pid');
  const iMem = fields.findIndex((f) => f === 'used_memory' || f === 'used_gpu_memory');
  const iName = fields.indexOf('process_name');
  const out: AppRow[] = [];
  for (let cells of rows(text)) {
    if (cells.length < fields.length) continue;
    if (iName !== -1 && cells.length > fields.length) {
      const extra = cells.length - fields.length;
      cells = [...cells.slice(0, iName), cells.slice(iName, iName + extra + 1).join(', '), ...cells.slice(iName + extra + 1)];
    }
    const pid = cells[iPid];
    if (!/^\d+$/.test(pid ?? '')) continue; // header line
    out.push({ gpuUuid: cells[iUuid], pid: Number(pid), usedMb: iMem === -1 ? undefined : mib(cells[iMem]) });
  }
  return out;
}

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

export function createGpu(log: Logger, options: GpuOptions = {}): Gpu {
  const env = options.env ?? {};
  const procRoot = options.procRoot ?? '/proc';

  const query = (args: string[], opts?: ProcessOptions): Promise<ProcessResult> =>
    runProcess(
      resolveBinary('nvidia-smi', env),
      args,
      { timeoutMs: opts?.timeoutMs ?? options.timeoutMs ?? 10_000, signal: opts?.signal, env, reject: false },
      log,
    );

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

  return {
    async snapshot(opts) {
      const t0 = performance.now();
      let gpuOut: ProcessResult;
      let appsOut: ProcessResult;
      try {
        [gpuOut, appsOut] = await Promise.all([query(GPU_QUERY_ARGS, opts), query(APPS_QUERY_ARGS, opts)]);
      } catch (e) {
        if (e instanceof GpumodError && e.code === 'CANCELLED') throw e;
        const why = isNotFound(e) ? `${resolveBinary('nvidia-smi', env)} not found` : errorMessage(e);
        return { available: false, reason: `no NVIDIA GPU visible: ${why}` };
      }
      for (const r of [gpuOut, appsOut]) {
        if (r.exitCode !== 0) {
          const said = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] || '(no output)';
          return { available: false, reason: `no NVIDIA GPU visible: nvidia-smi exited ${r.exitCode}: ${said}` };
        }
      }
      const gpus = parseGpuQuery(gpuOut.stdout);
      if (gpus.length === 0) return { available: false, reason: 'no NVIDIA GPU visible: nvidia-smi listed no GPU' };
      const apps = parseAppsQuery(appsOut.stdout);
      const known = new Set(gpus.map((g) => g.uuid));
      for (const a of apps) if (!known.has(a.gpuUuid)) log.warn(`nvidia-smi: PID ${a.pid} on unknown GPU ${a.gpuUuid}`);
      const pids = [...new Set(apps.map((a) => a.pid))];
      const units = new Map(await Promise.all(pids.map(async (pid) => [pid, await unitOfPid(pid)] as const)));
      const owned = pids.filter((pid) => units.get(pid) !== undefined);
      const commands = new Map(await Promise.all(owned.map(async (pid) => [pid, await commandOfPid(pid)] as const)));
      const joined = joinGpuApps(gpus, apps, (pid) => units.get(pid), (pid) => commands.get(pid));
      const snapshot: GpuSnapshot = { available: true, gpus: joined, ms: Math.round(performance.now() - t0) };
      return snapshot;
    },
  };
}
