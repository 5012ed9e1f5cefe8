import type { ServiceConfig } from '../config/types';
import { asleep, AWAKE, depthFor, fateOf, mb, sourceOf, vramOf, type Source } from './budget';
import type { Measured } from './footprints';
import type { ServiceObservation } from './types';

/** What a service holds now: seen on the GPU, else the figure its state would be planned with. */
export interface Held {
  mb: number;
  source: 'observed' | Source;
}

/**
 * The VRAM a service holds, when it holds any: observed by cgroup when the GPU is visible, else what
 * gpumod last measured in that state, else what the config declares.
 */
export function heldBy(svc: ServiceConfig, o: ServiceObservation | undefined, measured?: Measured): Held | undefined {
  if (o?.vramMb !== undefined) return o.vramMb > 0 ? { mb: o.vramMb, source: 'observed' } : undefined;
  const fate = fateOf(o);
  if (fate.kind === 'off') return undefined;
  const sizes = { measured: new Map(measured ? [[svc.name, measured]] : []) };
  return { mb: vramOf(svc, fate, sizes), source: sourceOf(svc, fate, sizes) };
}

/** "9.0 GB", "9.0 GB (measured)", "7.0 GB (declared)", "size unknown". */
export function heldText(h: Held): string {
  if (h.source === 'unknown') return 'size unknown';
  return h.source === 'observed' ? mb(h.mb) : `${mb(h.mb)} (${h.source})`;
}

/** "VRAM 9.0 GB awake (measured), 1.5 GB asleep (l1, declared)": the figures a switch plans with. */
export function figuresText(svc: ServiceConfig, measured?: Measured): string {
  const sizes = { measured: new Map(measured ? [[svc.name, measured]] : []) };
  const awake = sourceOf(svc, AWAKE, sizes) === 'unknown' ? 'size unknown awake (no vram_mb, not measured yet)' : `${mb(vramOf(svc, AWAKE, sizes))} awake (${sourceOf(svc, AWAKE, sizes)})`;
  const depth = depthFor(svc.sleep);
  if (!depth) return `VRAM ${awake}`;
  const fate = asleep(depth);
  return `VRAM ${awake}, ${mb(vramOf(svc, fate, sizes))} asleep (${svc.sleep}, ${sourceOf(svc, fate, sizes)})`;
}
