import type { ServiceConfig } from '../config/types';
import { errorMessage } from '../errors';
import { shareOn } from './budget';
import { heldMb, residueAllowanceMb, serviceProcesses } from './gpuShare';
import type { GpuProcess, GpuSnapshot } from './machinePorts';
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
  /** The other models of its router, when it shares one (its own memory is then its child's). */
  mates?: ServiceConfig[];
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
 * One release followed by its own processes, where the baseline attributes memory to it: released
 * once those processes are gone (a stop, an unload) or hold no more than a sleeping service may.
 * Followed per process so that a large release elsewhere on the card cannot hide a small one lagging.
 */
interface Followed {
  r: Released;
  pids: Set<number>;
  beforeMb: number;
}

function followed(r: Released, baseline: GpuSnapshot): Followed | undefined {
  const procs = serviceProcesses(baseline, r.svc, r.mates).filter((p) => p.usedMb !== undefined);
  const beforeMb = heldMb(procs);
  return beforeMb === undefined ? undefined : { r, pids: new Set(procs.map((p) => p.pid)), beforeMb };
}

/** Which of the processes followed the snapshot still lists. */
function stillListed(snap: GpuSnapshot, f: Followed): GpuProcess[] {
  if (!snap.available) return [];
  return snap.gpus
    .filter((g) => f.r.svc.gpus.includes(g.index))
    .flatMap((g) => g.processes)
    .filter((p) => f.pids.has(p.pid));
}

function releasedNow(f: Followed, snap: GpuSnapshot): boolean {
  const still = stillListed(snap, f);
  if (still.length === 0) return snap.available;
  const gone = f.r.action === 'stop' || (f.r.mates?.length ?? 0) > 0;
  if (gone) return false; // its processes exit; while one is listed, its memory is held
  const held = heldMb(still) ?? 0;
  return held <= residueAllowanceMb(f.r.svc) || f.beforeMb - held >= TOLERANCE * Math.max(0, f.beforeMb - f.r.svc.sleepVramMb);
}

/**
 * Polls the GPU until every release shows: per process for the services whose memory the baseline
 * attributes to them, and for the others by the drop each card should show (from the config).
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
  const onCards = released.filter((r) => baseline.gpus.some((g) => r.svc.gpus.includes(g.index) && g.usedMb !== undefined));
  const follow: Followed[] = [];
  const targets = new Map<number, number>();
  for (const r of onCards) {
    // A sleep of a service not awake (a wake cancelled mid-way, rolled back) frees nothing it is owed:
    // whatever a half-done wake took, the room check before the next acquisition sees.
    if (r.action === 'sleep' && !r.wasAwake) continue;
    const f = followed(r, baseline);
    if (f) {
      follow.push(f);
      continue;
    }
    // A service on several cards frees its even share on each.
    for (const g of r.svc.gpus) {
      const used = baseline.gpus.find((c) => c.index === g)?.usedMb;
      if (used !== undefined) targets.set(g, (targets.get(g) ?? used) - TOLERANCE * shareOn(r.svc, g, expectedDrop(r)));
    }
  }
  if (onCards.length === 0) return { result: 'skipped', last: baseline, detail: 'no memory figures to compare' };
  if (follow.length === 0 && targets.size === 0) return { result: 'ok', last: baseline };
  const start = ports.clock.now();
  let last: GpuSnapshot = baseline;
  for (;;) {
    if (signal.aborted) return { result: 'cancelled', last };
    const lookedAt = ports.clock.now();
    const first = last === baseline && releasedAt !== undefined;
    last = await snapshotOrUnavailable(ports, signal, first ? lookedAt - releasedAt : undefined);
    if (!last.available) return { result: 'skipped', last, detail: last.reason };
    const snap = last;
    const lagging = follow.filter((f) => !releasedNow(f, snap));
    const pending = [...targets].filter(([index, target]) => {
      const used = snap.gpus.find((g) => g.index === index)?.usedMb;
      return used !== undefined && used > target;
    });
    if (lagging.length === 0 && pending.length === 0) return { result: 'ok', last };
    if (ports.clock.now() - start >= boundMs) {
      const detail = [
        ...lagging.map((f) => `${f.r.svc.name} still shows ${heldMb(stillListed(snap, f)) ?? 0} MB`),
        ...pending.map(([index, target]) => `GPU ${index} shows ${snap.gpus.find((g) => g.index === index)?.usedMb} MB used, expected ≤ ${Math.round(target)} MB`),
      ].join('; ');
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

/** The drop a release without attributed processes should cause on its card, from the config. */
function expectedDrop(r: Released): number {
  const before = r.wasAwake ? r.svc.vramMb : r.svc.sleepVramMb;
  const after = r.action === 'stop' ? 0 : r.svc.sleepVramMb;
  return Math.max(0, before - after);
}
