import type { Config, ServiceConfig, SleepMode } from '../config/types';
import type { SleepDepth } from './driverPort';
import type { Observation, ServiceObservation } from './types';

/** Where a service ends up, as far as memory is concerned. */
export type Fate = { kind: 'awake' } | { kind: 'asleep'; depth: SleepDepth } | { kind: 'off' };

export const AWAKE: Fate = { kind: 'awake' };
export const OFF: Fate = { kind: 'off' };

export function asleep(depth: SleepDepth): Fate {
  return { kind: 'asleep', depth };
}

/** VRAM a service holds in a fate: all of it awake, its residue (CUDA context, router) asleep. */
export function vramOf(svc: ServiceConfig, fate: Fate): number {
  return fate.kind === 'awake' ? svc.vramMb : fate.kind === 'asleep' ? svc.sleepVramMb : 0;
}

/** Host RAM a sleeper holds: L1 keeps its weights in RAM (so do hooks and routers that say so); L2 drops them. */
export function ramOf(svc: ServiceConfig, fate: Fate): number {
  return fate.kind === 'asleep' && fate.depth !== 'l2' ? svc.sleepRamMb : 0;
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
      return asleep(o.sleep ?? 'l1');
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
export function gpuIndexes(config: Config, obs: Observation): number[] {
  const set = new Set<number>([...config.services.values()].map((s) => s.gpu));
  if (obs.gpu.available) for (const g of obs.gpu.gpus) set.add(g.index);
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
