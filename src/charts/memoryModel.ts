import type { Config, ServiceConfig } from '../config/types';
import { gpuTotalMb, shareOn } from '../engine/budget';
import type { Measured } from '../engine/footprints';
import { heldBy } from '../engine/heldMemory';
import { routerResidueMb, sharedRouters } from '../engine/routers';
import type { Observation, Plan, ServiceObservation } from '../engine/types';

/**
 * One stacked bar per GPU: each service's memory awake or its residue asleep, a shared router's own
 * process, other processes, what nvidia-smi shows used but no process holds, and free. Every segment
 * says where its figure comes from: seen on the card now (`observed`), measured by gpumod earlier
 * (`measured`), or only declared in the config (`declared`, or `unknown` without a figure).
 */

export type SegmentKind = 'awake' | 'asleep' | 'router' | 'foreign' | 'unattributed' | 'margin' | 'free';
export type FigureSource = 'observed' | 'measured' | 'declared' | 'unknown';

export interface Segment {
  kind: SegmentKind;
  label: string;
  /** The service (awake, asleep) or router unit the segment belongs to. */
  service?: string;
  mb: number;
  source: FigureSource;
  /** "asleep L1", "awake": the state words the chart shows beside the figure. */
  state?: string;
  /** A service's colour slot (by config order), the same in every bar. */
  colour?: number;
}

/** How many theme chart colours services cycle through. */
export const SERVICE_COLOURS = 5;

function colourOf(config: Config, name: string): number {
  return Math.max(0, [...config.services.keys()].indexOf(name)) % SERVICE_COLOURS;
}

export interface MemoryBar {
  gpu: number;
  name: string;
  totalMb: number | undefined;
  /** What the bar sums to besides free: used now, or planned after a switch (margin excluded). */
  usedMb: number;
  segments: Segment[];
  note?: string;
}

const DEPTH: Record<string, string> = { l1: 'L1', l2: 'L2', router: 'model unloaded', hook: 'unloaded', idle: 'idle' };

function stateWords(o: ServiceObservation | undefined): string {
  if (!o) return 'not observed';
  if (o.state === 'sleeping') return `asleep${o.sleep ? ` ${DEPTH[o.sleep] ?? o.sleep}` : ''}`;
  return o.state === 'running' ? 'awake' : o.state;
}

/** A router's idle model still holds all its memory: it counts as awake. */
function holdsAwake(o: ServiceObservation | undefined): boolean {
  return o !== undefined && (o.state !== 'sleeping' || o.sleep === 'idle');
}

function sum(segments: Segment[]): number {
  return segments.reduce((s, x) => s + x.mb, 0);
}

/** Appends "not attributed" and "free" from the card's own used/total figures. */
function closeBar(segments: Segment[], totalMb: number | undefined, usedMb: number | undefined, reserved = 0): void {
  const held = sum(segments);
  if (usedMb !== undefined && usedMb - held >= 1) {
    segments.push({ kind: 'unattributed', label: 'used, held by no listed process', mb: usedMb - held, source: 'observed' });
  }
  const used = Math.max(usedMb ?? 0, sum(segments));
  if (totalMb !== undefined && totalMb - used - reserved >= 1) segments.push({ kind: 'free', label: 'free', mb: totalMb - used - reserved, source: usedMb !== undefined ? 'observed' : 'declared' });
}

function order(a: Segment, b: Segment): number {
  const rank: SegmentKind[] = ['awake', 'asleep', 'router', 'foreign', 'unattributed', 'margin', 'free'];
  return rank.indexOf(a.kind) - rank.indexOf(b.kind);
}

/** The card as it is now, from one observation (and gpumod's measured figures where the card does not attribute memory). */
export function barsNow(config: Config, obs: Observation, measured?: ReadonlyMap<string, Measured>): MemoryBar[] {
  const cards = obs.gpu.available
    ? obs.gpu.gpus.map((g) => ({ index: g.index, name: g.name, totalMb: g.totalMb, usedMb: g.usedMb }))
    : [...new Set([...config.services.values()].flatMap((s) => s.gpus))].sort((a, b) => a - b).map((index) => ({ index, name: `GPU ${index}`, totalMb: gpuTotalMb(config, obs, index), usedMb: undefined }));
  return cards.map((card) => {
    const segments: Segment[] = [];
    for (const svc of config.services.values()) {
      if (!svc.gpus.includes(card.index)) continue;
      const o = obs.services.get(svc.name);
      const held = heldBy(svc, o, measured?.get(svc.name));
      if (!held) continue;
      // A service on several cards: what this card shows of it, else its even share.
      const mb = svc.gpus.length > 1 ? (o?.vramByGpu?.[card.index] ?? shareOn(svc, card.index, held.mb)) : held.mb;
      segments.push({ kind: holdsAwake(o) ? 'awake' : 'asleep', label: svc.name, service: svc.name, mb, source: held.source, state: stateWords(o), colour: colourOf(config, svc.name) });
    }
    for (const [unit, mbNow] of obs.routerMb ?? []) {
      const first = [...config.services.values()].find((s) => s.unit === unit);
      if (first?.gpu === card.index && mbNow > 0) segments.push({ kind: 'router', label: `router ${unit}`, service: unit, mb: mbNow, source: 'observed', state: 'running' });
    }
    const foreign = obs.foreignMb.get(card.index) ?? 0;
    if (foreign > 0) segments.push({ kind: 'foreign', label: 'other processes', mb: foreign, source: 'observed' });
    closeBar(segments, card.totalMb, card.usedMb);
    segments.sort(order);
    const note = obs.gpu.available ? undefined : `GPU not visible (${obs.gpu.reason}): the figures are gpumod's measurements or the config's.`;
    return { gpu: card.index, name: card.name, totalMb: card.totalMb, usedMb: card.usedMb ?? sum(segments.filter((s) => s.kind !== 'free')), segments, ...(note ? { note } : {}) };
  });
}

/** The fate a step leaves its service in, for the bar. */
function afterKind(action: string, fromState: string, fromSleep: string | undefined): 'awake' | 'asleep' | undefined {
  if (action === 'stop') return undefined;
  if (action === 'sleep') return 'asleep';
  if (action === 'keep') return fromState === 'sleeping' && fromSleep !== 'idle' ? 'asleep' : fromState === 'stopped' || fromState === 'failed' ? undefined : 'awake';
  return 'awake';
}

/**
 * The card after a plan, by the planner's own figures: each step's VRAM after (measured or declared),
 * a shared router's residue counted once, other processes as observed, the configured margin kept
 * free. The bar's used figure is the budget's.
 */
export function barsAfter(config: Config, plan: Plan, obs?: Observation): MemoryBar[] {
  const shared = sharedRouters(config);
  return plan.budgets.map((b) => {
    const segments: Segment[] = [];
    const routers = new Map<string, ServiceConfig[]>();
    for (const s of plan.steps) {
      if (s.vramAfterByGpu ? !(b.gpu in s.vramAfterByGpu) : s.gpu !== b.gpu) continue;
      const kind = afterKind(s.action, s.fromState, s.fromSleep);
      const svc = config.services.get(s.service);
      if (!kind || !svc) continue;
      const source: FigureSource = s.vramSource ?? 'declared';
      const depth = s.action === 'sleep' ? s.depth : s.fromSleep;
      const state = kind === 'awake' ? 'awake' : `asleep${depth ? ` ${DEPTH[depth] ?? depth}` : ''}`;
      const models = shared.get(svc.unit);
      if (svc.driver === 'llamacpp' && models) {
        // One router process for its models: its residue once, each awake model's child on top.
        routers.set(svc.unit, models);
        if (kind === 'awake') segments.push({ kind, label: svc.name, service: svc.name, mb: Math.max(0, s.vramAfterMb - routerResidueMb(models)), source, state, colour: colourOf(config, svc.name) });
        continue;
      }
      const after = s.vramAfterByGpu?.[b.gpu] ?? s.vramAfterMb;
      if (after > 0) segments.push({ kind, label: svc.name, service: svc.name, mb: after, source, state, colour: colourOf(config, svc.name) });
    }
    for (const [unit, models] of routers) segments.push({ kind: 'router', label: `router ${unit}`, service: unit, mb: routerResidueMb(models), source: 'declared', state: 'running' });
    if (b.foreignMb > 0) segments.push({ kind: 'foreign', label: 'other processes', mb: b.foreignMb, source: 'observed' });
    const planned = sum(segments);
    if (b.afterMb - planned >= 1) segments.push({ kind: 'unattributed', label: 'other (planned)', mb: b.afterMb - planned, source: 'declared' });
    if (b.marginMb > 0 && b.totalMb !== undefined) segments.push({ kind: 'margin', label: 'margin kept free', mb: b.marginMb, source: 'declared' });
    if (b.totalMb !== undefined) {
      const free = b.totalMb - Math.max(b.afterMb, sum(segments.filter((s) => s.kind !== 'margin'))) - b.marginMb;
      if (free >= 1) segments.push({ kind: 'free', label: 'free', mb: free, source: 'declared' });
    }
    segments.sort(order);
    const name = obs?.gpu.available ? (obs.gpu.gpus.find((g) => g.index === b.gpu)?.name ?? `GPU ${b.gpu}`) : `GPU ${b.gpu}`;
    return { gpu: b.gpu, name, totalMb: b.totalMb, usedMb: b.afterMb, segments };
  });
}

/** A holder's declared or unknown figure is a guess, not a measurement: the chart hatches it. */
export function isEstimate(s: Segment): boolean {
  return s.kind !== 'free' && s.kind !== 'margin' && (s.source === 'declared' || s.source === 'unknown');
}
