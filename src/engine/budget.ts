import type { Config, ServiceConfig, SleepMode } from '../config/types';
import type { SleepDepth } from './driverPort';
import type { Measured } from './footprints';
import type { Observation, ServiceObservation } from './types';

/** Where a service ends up, as far as memory is concerned. */
export type Fate = { kind: 'awake' } | { kind: 'asleep'; depth: SleepDepth } | { kind: 'off' };

export const AWAKE: Fate = { kind: 'awake' };
export const OFF: Fate = { kind: 'off' };

export function asleep(depth: SleepDepth): Fate {
  return { kind: 'asleep', depth };
}

/** Where a figure comes from: gpumod's measurement, the config (or its default), or nowhere. */
export type Source = 'measured' | 'declared' | 'unknown';

/** What the budget functions consult beyond the config: the learned footprints that apply now. */
export interface Sizes {
  measured: ReadonlyMap<string, Measured>;
  /**
   * The VRAM planned for a service of unknown size on `gpu` (no vram_mb, never measured): the whole
   * card beyond other processes and the margin, so it runs alone until gpumod has seen it once.
   */
  wholeCard?: (gpu: number) => number;
}

export const DECLARED: Sizes = { measured: new Map() };

/** Whether the figure of a service in a fate is measured, declared, or unknown (awake, no vram_mb, never seen). */
export function sourceOf(svc: ServiceConfig, fate: Fate, sizes: Sizes = DECLARED): Source {
  const m = sizes.measured.get(svc.name);
  if (fate.kind === 'awake') return m?.vram.awake !== undefined ? 'measured' : svc.undeclared?.includes('vram_mb') ? 'unknown' : 'declared';
  if (fate.kind === 'asleep') return m?.vram[fate.depth] !== undefined ? 'measured' : 'declared';
  return 'declared';
}

/** VRAM a service holds in a fate: all of it awake, its residue (CUDA context, router) asleep; measured first. */
export function vramOf(svc: ServiceConfig, fate: Fate, sizes: Sizes = DECLARED): number {
  const m = sizes.measured.get(svc.name);
  if (fate.kind === 'awake') {
    if (m?.vram.awake !== undefined) return m.vram.awake;
    return svc.undeclared?.includes('vram_mb') ? svc.gpus.reduce((sum, g) => sum + (sizes.wholeCard?.(g) ?? 0), 0) : svc.vramMb;
  }
  return fate.kind === 'asleep' ? (m?.vram[fate.depth] ?? svc.sleepVramMb) : 0;
}

/** `totalMb` of a service spread evenly over its cards: its share on `gpu` (the remainder on its first card). */
export function shareOn(svc: ServiceConfig, gpu: number, totalMb: number): number {
  if (!svc.gpus.includes(gpu)) return 0;
  const n = svc.gpus.length;
  if (n === 1) return totalMb;
  const each = Math.floor(totalMb / n);
  return gpu === svc.gpus[0] ? totalMb - each * (n - 1) : each;
}

/**
 * VRAM a service holds on card `gpu` in a fate: what gpumod measured on that card, else its even share
 * of `vramOf` (a tensor-parallel server splits its weights and cache evenly); 0 on a card it does not use.
 */
export function vramOn(svc: ServiceConfig, gpu: number, fate: Fate, sizes: Sizes = DECLARED): number {
  if (!svc.gpus.includes(gpu) || fate.kind === 'off') return 0;
  if (svc.gpus.length === 1) return vramOf(svc, fate, sizes);
  const seen = sizes.measured.get(svc.name)?.cards?.[gpu]?.[fate.kind === 'awake' ? 'awake' : fate.depth];
  if (seen !== undefined) return seen;
  if (fate.kind === 'awake' && sourceOf(svc, fate, sizes) === 'unknown') return sizes.wholeCard?.(gpu) ?? 0;
  return shareOn(svc, gpu, vramOf(svc, fate, sizes));
}

/** Host RAM a sleeper holds: L1 keeps its weights in RAM (so do hooks and routers that say so); L2 drops them. */
export function ramOf(svc: ServiceConfig, fate: Fate, sizes: Sizes = DECLARED): number {
  if (fate.kind !== 'asleep' || fate.depth === 'l2') return 0;
  const m = sizes.measured.get(svc.name);
  const seen = m?.ram[fate.depth];
  if (seen !== undefined) return seen;
  // Undeclared L1 weights are what the measured awake figure does not keep as residue.
  if (fate.depth === 'l1' && svc.undeclared?.includes('sleep_ram_mb') && m?.vram.awake !== undefined) {
    return Math.max(0, m.vram.awake - vramOf(svc, fate, sizes));
  }
  return svc.sleepRamMb;
}

/** The memory fate of what was observed. */
export function fateOf(o: ServiceObservation | undefined): Fate {
  if (!o) return OFF;
  switch (o.state) {
    case 'running':
    case 'starting':
    case 'waking':
      return AWAKE;
    case 'sleeping':
      // A router's idle model still holds its memory (and any request reloads it).
      return o.sleep === 'idle' ? AWAKE : asleep(o.sleep ?? 'l1');
    case 'unknown':
      return o.unit?.activeState === 'active' ? AWAKE : OFF;
    default:
      return OFF;
  }
}

/** The configured sleep mode as a driver depth; undefined for `none`. */
export function depthFor(mode: SleepMode): SleepDepth | undefined {
  const map: Record<SleepMode, SleepDepth | undefined> = { none: undefined, l1: 'l1', l2: 'l2', router: 'router', hooks: 'hook' };
  return map[mode];
}

/** The depth a plain sleep puts the service in: the configured one where its driver offers it, else its shallowest. */
export function ownSleepDepth(svc: ServiceConfig, levels: readonly SleepDepth[]): SleepDepth | undefined {
  const configured = depthFor(svc.sleep);
  return configured && levels.includes(configured) ? configured : levels[0];
}

/** Every GPU index that a service names or the snapshot shows. */
export function gpuIndexes(config: Config, obs: Observation | undefined): number[] {
  const set = new Set<number>([...config.services.values()].flatMap((s) => s.gpus));
  if (obs?.gpu.available) for (const g of obs.gpu.gpus) set.add(g.index);
  return [...set].sort((a, b) => a - b);
}

/** The card's memory: from nvidia-smi, else the config's `budget.gpu_total_mb`, else unknown. */
export function gpuTotalMb(config: Config, obs: Observation, gpu: number): number | undefined {
  const seen = obs.gpu.available ? obs.gpu.gpus.find((g) => g.index === gpu)?.totalMb : undefined;
  if (seen !== undefined) return seen;
  return config.budget.gpuTotalMb > 0 ? config.budget.gpuTotalMb : undefined;
}

export function observedUsedMb(obs: Observation, gpu: number): number | undefined {
  return obs.gpu.available ? obs.gpu.gpus.find((g) => g.index === gpu)?.usedMb : undefined;
}

/** "800 MB", "1.5 GB": the unit people read in a preview. */
export function mb(n: number): string {
  return n < 1000 ? `${Math.round(n)} MB` : `${(n / 1000).toFixed(1)} GB`;
}

/** "24 GB card" (nvidia-smi reports MiB: 24564 on an RTX 4090). */
export function card(totalMb: number): string {
  return `${Math.round(totalMb / 1024)} GB card`;
}
