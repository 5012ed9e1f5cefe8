import type { ServiceConfig } from '../config/types';
import { errorMessage } from '../errors';
import type { GpuSnapshot } from './machinePorts';
import type { EnginePorts } from './ports';

/**
 * nvidia-smi shows a sleep's memory freed within one poll and a SIGTERM exit's within ~1 s (anchors.md).
 * During a switch the GPU is followed at WATCH_PERIOD_MS, and a look waits for the next sample: polling
 * at that period costs no process. Without a watch each poll is a query (~28 ms) plus this pause.
 */
export const WATCH_PERIOD_MS = 25;
const POLL_MS = WATCH_PERIOD_MS;

/** The pause before the next look at the GPU: what is left of a period since the last look began, and at least half a period. */
export function untilNextLook(ports: Pick<EnginePorts, 'clock'>, lookedAt: number, signal: AbortSignal): Promise<void> {
  return ports.clock.sleep(Math.max(POLL_MS / 2, POLL_MS - (ports.clock.now() - lookedAt)), signal);
}
const LAG_AFTER_STOP_MS = 1500;
const LAG_AFTER_SLEEP_MS = 300;
/** A drop this close to the expected one counts: residues are never exactly as configured. */
const TOLERANCE = 0.9;

export interface Released {
  svc: ServiceConfig;
  action: 'sleep' | 'stop';
  /** Held its full VRAM before (false: held its sleeping residue). */
  wasAwake: boolean;
}

export type WaitPorts = Pick<EnginePorts, 'gpu' | 'clock' | 'log'>;

/** A look at the GPU that never throws; `maxAgeMs`: a sample that recent will do (the watch's latest). */
export async function snapshotOrUnavailable(ports: Pick<EnginePorts, 'gpu'>, signal: AbortSignal, maxAgeMs?: number): Promise<GpuSnapshot> {
  try {
    return await ports.gpu.snapshot({ signal, timeoutMs: 5000, ...(maxAgeMs !== undefined && maxAgeMs > 0 ? { maxAgeMs } : {}) });
  } catch (e) {
    return { available: false, reason: errorMessage(e) };
  }
}

/** How long to wait for released memory at most: the sum of what each release is expected to take to show. */
export function waitBoundMs(released: Released[], expectedMs: (r: Released) => number = () => 0): number {
  return Math.max(
    500,
    released.reduce((s, r) => s + expectedMs(r) + (r.action === 'stop' ? LAG_AFTER_STOP_MS : LAG_AFTER_SLEEP_MS), 0),
  );
}

export interface WaitResult {
  /** 'skipped' when no GPU (or no memory figure) is visible. */
  result: 'ok' | 'timeout' | 'skipped' | 'cancelled';
  last: GpuSnapshot;
  detail?: string;
}

/**
 * Polls the GPU until each card shows (nearly) the drop that the released services should cause,
 * measured per process where nvidia-smi attributes memory to the unit, from the config otherwise.
 * No fixed pause: after sleeps only, the first poll usually succeeds.
 */
export async function waitForFreedMemory(
  released: Released[],
  baseline: GpuSnapshot,
  ports: WaitPorts,
  signal: AbortSignal,
  boundMs: number,
  /** When the last release ended (clock ms): a sample taken since then is already a first look. */
  releasedAt?: number,
): Promise<WaitResult> {
  if (!baseline.available) return { result: 'skipped', last: baseline, detail: baseline.reason };
  const targets = new Map<number, number>();
  for (const g of baseline.gpus) {
    const here = released.filter((r) => r.svc.gpu === g.index);
    if (here.length === 0 || g.usedMb === undefined) continue;
    const drop = here.reduce((s, r) => s + expectedDrop(r, attributed(baseline, g.index, r.svc.unit)), 0);
    targets.set(g.index, g.usedMb - TOLERANCE * drop);
  }
  if (targets.size === 0) return { result: 'skipped', last: baseline, detail: 'no memory figures to compare' };
  const start = ports.clock.now();
  let last: GpuSnapshot = baseline;
  for (;;) {
    if (signal.aborted) return { result: 'cancelled', last };
    const lookedAt = ports.clock.now();
    const first = last === baseline && releasedAt !== undefined;
    last = await snapshotOrUnavailable(ports, signal, first ? lookedAt - releasedAt : undefined);
    if (!last.available) return { result: 'skipped', last, detail: last.reason };
    const snap = last;
    const pending = [...targets].filter(([index, target]) => {
      const used = snap.gpus.find((g) => g.index === index)?.usedMb;
      return used !== undefined && used > target;
    });
    if (pending.length === 0) return { result: 'ok', last };
    if (ports.clock.now() - start >= boundMs) {
      const detail = pending
        .map(([index, target]) => `GPU ${index} shows ${snap.gpus.find((g) => g.index === index)?.usedMb} MB used, expected ≤ ${Math.round(target)} MB`)
        .join('; ');
      ports.log.warn(`memory not freed within ${boundMs} ms: ${detail}; continuing`);
      return { result: 'timeout', last, detail };
    }
    try {
      await untilNextLook(ports, lookedAt, signal);
    } catch {
      return { result: 'cancelled', last };
    }
  }
}

/** Free memory on a card per the snapshot, if it says. */
export function freeMb(snap: GpuSnapshot, gpu: number): number | undefined {
  if (!snap.available) return undefined;
  const g = snap.gpus.find((x) => x.index === gpu);
  if (!g) return undefined;
  if (g.freeMb !== undefined) return g.freeMb;
  return g.totalMb !== undefined && g.usedMb !== undefined ? g.totalMb - g.usedMb : undefined;
}

/** Polls until `needMb` (+ margin) is free on `gpu`, at most `boundMs`. `ok` when the room is there (or no figure says otherwise). */
export async function waitForRoom(
  gpu: number,
  needMb: number,
  marginMb: number,
  ports: WaitPorts,
  signal: AbortSignal,
  boundMs: number,
): Promise<{ ok: boolean; freeMb?: number }> {
  const start = ports.clock.now();
  for (;;) {
    const lookedAt = ports.clock.now();
    const free = freeMb(await snapshotOrUnavailable(ports, signal), gpu);
    if (free === undefined || free - marginMb >= needMb) return { ok: true, freeMb: free };
    if (signal.aborted || ports.clock.now() - start >= boundMs) return { ok: false, freeMb: free };
    try {
      await untilNextLook(ports, lookedAt, signal);
    } catch {
      return { ok: false, freeMb: free };
    }
  }
}

/** MB the unit's processes hold on `gpu` per the snapshot; undefined when none of them shows. */
export function attributed(snap: GpuSnapshot, gpu: number, unit: string): number | undefined {
  if (!snap.available) return undefined;
  const procs = snap.gpus.find((g) => g.index === gpu)?.processes.filter((p) => p.unit === unit && p.usedMb !== undefined) ?? [];
  return procs.length > 0 ? procs.reduce((s, p) => s + (p.usedMb ?? 0), 0) : undefined;
}

function expectedDrop(r: Released, measured: number | undefined): number {
  const before = measured ?? (r.wasAwake ? r.svc.vramMb : r.svc.sleepVramMb);
  const after = r.action === 'stop' ? 0 : r.svc.sleepVramMb;
  return Math.max(0, before - after);
}
