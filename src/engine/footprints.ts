import type { Config, ServiceConfig } from '../config/types';
import type { SleepDepth } from './driverPort';
import type { Observation, ServiceObservation } from './types';

/**
 * Learned footprints: per service, the memory gpumod last measured it holding awake and asleep at each
 * depth, and when. A footprint belongs to one command line: the key hashes the unit's ExecStart, the
 * config's driver, model and GPU, so a new model file or a new flag starts it afresh.
 */

export type FootprintState = 'awake' | SleepDepth;

export interface Measure {
  mb: number;
  /** When this figure was measured (ms since the epoch); a later reading within TOLERANCE keeps it. */
  at: number;
}

export interface Footprint {
  key: string;
  /** VRAM attributed to the unit's processes (by cgroup), awake and per sleep depth. */
  vram: Partial<Record<FootprintState, Measure>>;
  /** Host RAM (RSS of the unit's processes) per sleep depth. */
  ram: Partial<Record<SleepDepth, Measure>>;
  /** For a service on several cards, `vram` per card (by GPU index): each card's share and residue. */
  cards?: Record<string, Partial<Record<FootprintState, Measure>>>;
}

/** By service name. */
export type Footprints = Record<string, Footprint>;

/** The figures that apply to the services as they are now (their key matches), by service name. */
export interface Measured {
  vram: Partial<Record<FootprintState, number>>;
  ram: Partial<Record<SleepDepth, number>>;
  /** Per card, for a service on several (budget.ts vramOn). */
  cards?: Record<number, Partial<Record<FootprintState, number>>>;
}

const STATES: readonly FootprintState[] = ['awake', 'l1', 'l2', 'router', 'hook'];
const DEPTHS: readonly SleepDepth[] = ['l1', 'l2', 'router', 'hook'];
/** More than any card or host has (MB): a larger figure is not a measurement. */
const MAX_MB = 16 * 1024 * 1024;
/** A file of more footprints than this is not ours. */
const MAX_SERVICES = 1000;

/** Two 32-bit FNV-1a-style hashes side by side: the engine imports no crypto, and the key need only tell command lines apart. */
function hash(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193 + 2 * i + 1) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** What identifies one footprint: the unit's command line, the config's driver, model and GPUs. */
export function footprintKey(svc: ServiceConfig, execStart: string | undefined): string {
  return hash([svc.driver, svc.model ?? '', svc.gpus.join(','), execStart ?? ''].join('\0'));
}

/** Figures within this of each other are the same footprint (RSS wanders by a few MB a second). */
function same(a: number, b: number): boolean {
  return Math.abs(a - b) <= Math.max(64, 0.02 * Math.max(a, b));
}

/**
 * Whether nvidia-smi attributes memory on the service's card: visible, every process with a figure,
 * and at least one process traced to a unit (in a container the process list is empty or [N/A]).
 */
function attributes(obs: Observation, gpu: number): boolean {
  if (!obs.gpu.available) return false;
  const card = obs.gpu.gpus.find((g) => g.index === gpu);
  if (!card || card.processes.some((p) => p.usedMb === undefined)) return false;
  return card.processes.some((p) => p.unit !== undefined);
}

/** The stable state an observation can be measured in: running and healthy, or asleep at a depth. */
function stableState(o: ServiceObservation): FootprintState | undefined {
  if (o.state === 'running' && o.healthy) return 'awake';
  if (o.state === 'sleeping' && o.sleep) return o.sleep;
  return undefined;
}

function put<K extends string>(into: Partial<Record<K, Measure>>, k: K, mbNow: number, at: number): boolean {
  const prev = into[k];
  if (prev && same(prev.mb, mbNow)) return false;
  into[k] = { mb: Math.round(mbNow), at };
  return true;
}

/**
 * The footprints after an observation, and whether anything changed (worth writing). Only stable
 * states are measured: VRAM when the card attributes memory (an awake server holding nothing means
 * it did not), host RAM of sleepers when the observation read it. A changed key starts afresh.
 */
export function updateFootprints(prev: Footprints, config: Config, obs: Observation): { footprints: Footprints; changed: boolean } {
  const next: Footprints = structuredClone(prev);
  let changed = false;
  for (const svc of config.services.values()) {
    const o = obs.services.get(svc.name);
    const state = o && stableState(o);
    if (!o || !state || !o.unit) continue;
    const key = footprintKey(svc, o.unit.execStart);
    let fp = next[svc.name];
    const fresh = (): Footprint => ({ key, vram: {}, ram: {} });
    const vram = o.vramMb;
    if (vram !== undefined && svc.gpus.every((g) => attributes(obs, g)) && (state !== 'awake' || vram > 0)) {
      if (fp?.key !== key) fp = next[svc.name] = fresh();
      changed = put(fp.vram, state, vram, obs.at) || changed;
      if (svc.gpus.length > 1) {
        const cards = (fp.cards ??= {});
        for (const g of svc.gpus) changed = put((cards[g] ??= {}), state, o.vramByGpu?.[g] ?? 0, obs.at) || changed;
      }
    }
    if (state !== 'awake' && o.ramMb !== undefined) {
      if (fp?.key !== key) fp = next[svc.name] = fresh();
      changed = put(fp.ram, state, o.ramMb, obs.at) || changed;
    }
  }
  return { footprints: next, changed };
}

/** The measured figures of a service as it is now (undefined when its footprint is another command line's). */
export function lookup(footprints: Footprints, svc: ServiceConfig, execStart: string | undefined): Measured | undefined {
  const fp = footprints[svc.name];
  if (!fp || fp.key !== footprintKey(svc, execStart)) return undefined;
  const vram: Measured['vram'] = {};
  const ram: Measured['ram'] = {};
  for (const s of STATES) if (fp.vram[s]) vram[s] = fp.vram[s]?.mb;
  for (const d of DEPTHS) if (fp.ram[d]) ram[d] = fp.ram[d]?.mb;
  if (!fp.cards) return { vram, ram };
  const cards: NonNullable<Measured['cards']> = {};
  for (const [g, t] of Object.entries(fp.cards)) {
    cards[Number(g)] = {};
    for (const s of STATES) if (t[s]) cards[Number(g)][s] = t[s]?.mb;
  }
  return { vram, ram, cards };
}

/** Every service's figures that apply to what `obs` shows (its unit's ExecStart). */
export function measuredNow(footprints: Footprints, config: Config, obs: Observation): Map<string, Measured> {
  const out = new Map<string, Measured>();
  for (const svc of config.services.values()) {
    const o = obs.services.get(svc.name);
    if (!o?.unit) continue;
    const m = lookup(footprints, svc, o.unit.execStart);
    if (m) out.set(svc.name, m);
  }
  return out;
}

function asMeasure(v: unknown): Measure | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Record<string, unknown>;
  if (typeof m.mb !== 'number' || !Number.isFinite(m.mb) || m.mb < 0 || m.mb > MAX_MB) return undefined;
  if (typeof m.at !== 'number' || !Number.isFinite(m.at)) return undefined;
  return { mb: m.mb, at: m.at };
}

function asTable<K extends string>(v: unknown, keys: readonly K[]): Partial<Record<K, Measure>> {
  const out: Partial<Record<K, Measure>> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const k of keys) {
    const m = asMeasure((v as Record<string, unknown>)[k]);
    if (m) out[k] = m;
  }
  return out;
}

function asCards(v: unknown): { cards?: Footprint['cards'] } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  const cards: NonNullable<Footprint['cards']> = {};
  for (const [g, t] of Object.entries(v)) if (/^([0-9]|[1-5][0-9]|6[0-3])$/.test(g)) cards[g] = asTable(t, STATES);
  return Object.keys(cards).length > 0 ? { cards } : {};
}

/** footprints.json as read from disk: entries of the wrong shape are dropped, never fatal. */
export function asFootprints(v: unknown): Footprints {
  const out: Footprints = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [name, e] of Object.entries(v).slice(0, MAX_SERVICES)) {
    if (name === '__proto__' || typeof e !== 'object' || e === null) continue;
    const f = e as Record<string, unknown>;
    if (typeof f.key !== 'string' || !/^[0-9a-f]{16}$/.test(f.key)) continue;
    out[name] = { key: f.key, vram: asTable(f.vram, STATES), ram: asTable(f.ram, DEPTHS), ...asCards(f.cards) };
  }
  return out;
}
