import type { Config, ServiceConfig } from '../config/types';
import type { DriverCapabilities, SleepDepth } from './driverPort';
import { GpumodError } from '../errors';
import {
  asleep,
  AWAKE,
  card,
  depthFor,
  fateOf,
  gpuIndexes,
  gpuTotalMb,
  mb,
  observedUsedMb,
  OFF,
  ramOf,
  sourceOf,
  vramOf,
  vramOn,
  shareOn,
  type Fate,
  type Sizes,
} from './budget';
import type { Measured } from './footprints';
import { formatMs } from './deadline';
import { worthASecondLook } from './observe';
import { estimates as historyEstimates, type Estimates } from './history';
import { isIdle, routerResidueMb, routerVramMb, sharedRouters } from './routers';
import type { Budget, Observation, PhaseEstimate, Plan, PlanStep, Refusal, ServiceObservation, StepAction } from './types';

/** What to do with running services that belong to no mode. */
export type OrphanPolicy = 'keep' | 'sleep' | 'stop';

export interface PlanOptions {
  estimates?: Estimates;
  /** The learned footprints that apply now (footprints.measuredNow): measured figures win over declared ones. */
  measured?: ReadonlyMap<string, Measured>;
  /** Default `keep` (while the budget allows). */
  orphanPolicy?: OrphanPolicy;
  /** The mode the machine is in (see currentMode): the plan's `from`, used in notes and the no-op test. */
  currentMode?: string;
  /** The drivers' view of what can sleep; by default derived from the config's `sleep`. */
  capabilities?: (svc: ServiceConfig) => DriverCapabilities;
}

/** A GPU polled ~50 ms after a sleep already shows the memory freed; after SIGTERM it takes ~1 s (anchors.md). */
export const WAIT_AFTER_SLEEP_MS = 50;
export const WAIT_AFTER_STOP_MS = 1000;

/** Beyond this many sleepers the residue choice is greedy instead of exhaustive. */
const EXHAUSTIVE_LIMIT = 16;

interface Decision {
  svc: ServiceConfig;
  obs: ServiceObservation;
  incoming: boolean;
  orphan: boolean;
  /** The first half of every reason: "in rag", "not in rag", "belongs to no mode". */
  why: string;
  action: StepAction;
  depth?: SleepDepth;
  fate: Fate;
  reason: string;
}

interface Ctx {
  config: Config;
  obs: Observation;
  target: string;
  from: string | undefined;
  est: Estimates;
  caps: (svc: ServiceConfig) => DriverCapabilities;
  totals: Map<number, number | undefined>;
  sizes: Sizes;
  notes: string[];
}

/**
 * The one place where a switch decides, per service, keep / sleep / stop / wake / start / load.
 * Pure: the same config and observation always give the same plan.
 *
 * The cheapest switch stops nothing: services leaving the mode sleep at their configured depth, those
 * that cannot sleep keep running, sleepers stay asleep (an empty mode such as `blank` means "give the
 * card back": there, what cannot sleep stops). Only when the result does not fit the card (or the
 * host RAM budget) does it give ground, in this order: stop running services that cannot sleep (largest
 * first), deepen L1 sleeps to L2 (RAM only: the VRAM residue is the same), stop the sleepers whose
 * residue is worth least (cold start saved), and finally refuse with the numbers.
 */
export function plan(config: Config, obs: Observation, target: string, opts: PlanOptions = {}): Plan {
  const mode = config.modes.get(target);
  if (!mode) throw new GpumodError('USAGE', `unknown mode "${target}" (modes: ${[...config.modes.keys()].join(', ') || 'none'})`);
  const ctx: Ctx = {
    config,
    obs,
    target,
    from: opts.currentMode,
    est: opts.estimates ?? historyEstimates([]),
    caps: opts.capabilities ?? configCapabilities,
    totals: new Map(gpuIndexes(config, obs).map((g) => [g, gpuTotalMb(config, obs, g)])),
    sizes: { measured: new Map() },
    notes: [],
  };
  ctx.sizes = { measured: opts.measured ?? new Map(), wholeCard: (g) => wholeCard(ctx, g) };
  const wanted = new Set(mode.services);
  const inSomeMode = new Set([...config.modes.values()].flatMap((m) => m.services));
  const decisions = [...config.services.values()].map((svc) => {
    const o = observed(obs, svc);
    const portMate = wanted.has(svc.name) ? undefined : svc.alternatives.find((a) => wanted.has(a));
    if (portMate !== undefined && o.state !== 'stopped' && o.state !== 'failed') return giveWayTo(ctx, svc, o, portMate);
    return routerDecision(ctx, svc, o, wanted.has(svc.name)) ?? decide(ctx, svc, o, wanted.has(svc.name), !inSomeMode.has(svc.name), opts.orphanPolicy ?? 'keep', mode.services.length === 0);
  });

  for (const [g, total] of ctx.totals) {
    if (total === undefined && decisions.some((d) => d.svc.gpus.includes(g))) {
      ctx.notes.push(`GPU ${g}: total memory unknown (no GPU visible and budget.gpu_total_mb is 0): planned without a VRAM check.`);
    }
  }
  const tooMany = modelsMax(ctx, decisions);
  unknownSizeNotes(ctx, decisions);
  stopRunningForRoom(ctx, decisions);
  deepenForRam(ctx, decisions);
  dropResidues(ctx, decisions);
  keepRoutersServing(ctx, decisions);
  const refused = tooMany ?? refusal(ctx, decisions);

  const steps = decisions.map((d) => toStep(ctx, d));
  coldStartNotes(ctx, decisions);
  const phases = estimatePhases(ctx, decisions, steps);
  const estimateMs = phases.releaseMs + phases.waitFreeMs + phases.acquireMs;
  const noop = !refused && steps.every((s) => s.action === 'keep');
  if (noop) ctx.notes.unshift(`Already in ${target}: nothing to do.`);
  else if (!refused && estimateMs > 10_000) ctx.notes.push(slowNote(steps, estimateMs));
  return {
    from: opts.currentMode,
    to: target,
    steps,
    budgets: budgets(ctx, decisions),
    ramAfterMb: ramAfter(ctx, decisions),
    ramBudgetMb: config.budget.hostRamMb,
    estimateMs,
    phases,
    notes: ctx.notes,
    noop,
    refused,
  };
}

/** Without driver information: a service can sleep at its configured depth; a vLLM L1 sleeper can go to L2. */
export function configCapabilities(svc: ServiceConfig): DriverCapabilities {
  const depth = depthFor(svc.sleep);
  const levels: SleepDepth[] = !depth ? [] : svc.driver === 'vllm' && depth === 'l1' ? ['l1', 'l2'] : [depth];
  return { sleepLevels: levels, canWake: levels.length > 0, canDrain: svc.driver === 'vllm' };
}

function observed(obs: Observation, svc: ServiceConfig): ServiceObservation {
  return obs.services.get(svc.name) ?? { name: svc.name, state: 'unknown', healthy: false, detail: 'not observed' };
}

function sleepDepth(ctx: Ctx, svc: ServiceConfig): SleepDepth | undefined {
  const levels = ctx.caps(svc).sleepLevels;
  const configured = depthFor(svc.sleep);
  if (configured && levels.includes(configured)) return configured;
  return levels[0];
}

function decide(
  ctx: Ctx,
  svc: ServiceConfig,
  o: ServiceObservation,
  incoming: boolean,
  orphan: boolean,
  orphanPolicy: OrphanPolicy,
  freeTheCard: boolean,
): Decision {
  const t = ctx.target;
  const why = incoming ? `in ${t}` : orphan ? 'belongs to no mode' : `not in ${t}`;
  const d = { svc, obs: o, incoming, orphan, why };
  if (incoming) {
    switch (o.state) {
      case 'running':
        if (!o.healthy) ctx.notes.push(`${svc.name} is running but not healthy${o.detail ? ` (${o.detail})` : ''}.`);
        return { ...d, action: 'keep', fate: AWAKE, reason: `in ${t}; already running` };
      case 'sleeping': {
        const depth = o.sleep ?? 'l1';
        const load = depth === 'router' || svc.driver === 'llamacpp';
        const ms = ctx.est.ms(svc, load ? 'load' : 'wake', depth);
        return load
          ? { ...d, action: 'load', fate: AWAKE, reason: `in ${t}; loads its model into the running router (~${formatMs(ms)})` }
          : { ...d, action: 'wake', fate: AWAKE, reason: `in ${t}; wakes (${depthLabel(depth)}, ~${formatMs(ms)})` };
      }
      case 'waking':
        return { ...d, action: 'wake', fate: AWAKE, reason: `in ${t}; already waking, awaited` };
      case 'starting':
        return { ...d, action: 'start', fate: AWAKE, reason: `in ${t}; already starting, awaited` };
      case 'unknown':
        // A guess could stop a sleeper or start a second copy: what could not be seen is left alone.
        if (worthASecondLook(o)) {
          ctx.notes.push(`${svc.name} could not be observed${o.detail ? ` (${o.detail})` : ''}: the switch does not touch it, so ${t} may not be fully reached.`);
          return { ...d, action: 'keep', fate: fateOf(o), reason: `in ${t}; state unknown${o.detail ? ` (${o.detail})` : ''}: not touched` };
        }
        return { ...d, action: 'start', fate: AWAKE, reason: `in ${t}; ${o.detail ?? 'unknown'}, cold start` };
      default:
        return { ...d, action: 'start', fate: AWAKE, reason: `in ${t}; ${o.state}, cold start (~${formatMs(ctx.est.ms(svc, 'start'))})` };
    }
  }
  switch (o.state) {
    case 'running':
    case 'starting':
    case 'waking': {
      const depth = sleepDepth(ctx, svc);
      const sleep = (): Decision => sleepDecision(d, depth as SleepDepth, `${why}; sleeps (${depthLabel(depth as SleepDepth)})`);
      const canSleepNow = depth !== undefined && o.state === 'running';
      const keep: Decision = {
        ...d,
        action: 'keep',
        fate: AWAKE,
        reason: `${why}; ${depth ? `still ${o.state}` : 'cannot sleep'}, kept running while the budget allows`,
      };
      if (orphan) {
        ctx.notes.push(`${svc.name} is ${o.state} but belongs to no mode: orphan policy "${orphanPolicy}".`);
        if (orphanPolicy === 'stop') return { ...d, action: 'stop', fate: OFF, reason: `${why}; stops (orphan policy)` };
        return orphanPolicy === 'sleep' && canSleepNow ? sleep() : keep;
      }
      if (canSleepNow) return sleep();
      // An empty mode means "give the GPU back": what cannot sleep stops.
      if (freeTheCard) return { ...d, action: 'stop', fate: OFF, reason: `${why}; cannot sleep, stops to free the card` };
      return keep;
    }
    case 'sleeping':
      return { ...d, action: 'keep', fate: asleep(o.sleep ?? 'l1'), reason: `${why}; stays asleep (${depthLabel(o.sleep ?? 'l1')})` };
    case 'unknown':
      return { ...d, action: 'keep', fate: fateOf(o), reason: `${why}; state unknown${o.detail ? ` (${o.detail})` : ''}` };
    default:
      return { ...d, action: 'keep', fate: OFF, reason: `${why}; ${o.state}` };
  }
}

// ---- llama.cpp routers serving several models (one process: see routers.ts) ----

/**
 * A router's model in a state the generic rules misread: idle (the router's own sleep) still holds
 * memory, so a mode that does not want it unloads it; a failed model whose router runs is loaded
 * into it (a cold start would restart the router under the models it serves).
 */
function routerDecision(ctx: Ctx, svc: ServiceConfig, o: ServiceObservation, incoming: boolean): Decision | undefined {
  if (svc.driver !== 'llamacpp') return undefined;
  const t = ctx.target;
  const d = { svc, obs: o, incoming, orphan: false, why: incoming ? `in ${t}` : `not in ${t}` };
  if (!incoming && isIdle(o)) {
    return sleepDecision(d, 'router', `${d.why}; idle in its router, where its process still holds memory: unloads its model`);
  }
  if (incoming && o.state === 'failed' && o.unit?.activeState === 'active') {
    const ms = ctx.est.ms(svc, 'load', 'router');
    return { ...d, action: 'load', fate: AWAKE, reason: `in ${t}; ${o.detail ?? 'failed'}: loads its model again into the running router (~${formatMs(ms)})` };
  }
  return undefined;
}

/** Members of shared routers, by unit. */
function routerGroups(ctx: Ctx, decisions: Decision[]): Decision[][] {
  return [...sharedRouters(ctx.config).values()].map((models) => decisions.filter((d) => models.includes(d.svc)));
}

/**
 * A router loads at most `--models-max` models; loading one more evicts the least recently used,
 * which may be one the target keeps. Models the target does not want are unloaded first (in the
 * release phase, before any load); a target that needs more models than the router allows is refused.
 */
function modelsMax(ctx: Ctx, decisions: Decision[]): Refusal | undefined {
  for (const group of routerGroups(ctx, decisions)) {
    const max = group.map((d) => d.obs.modelsMax).find((n) => n !== undefined);
    if (max === undefined || max <= 0) continue;
    const wanted = group.filter((d) => d.incoming);
    const unit = group[0].svc.unit;
    if (wanted.length > max) {
      const reason = `${ctx.target} needs ${wanted.length} models from the llama.cpp router ${unit} (${wanted.map((d) => d.svc.name).join(', ')}), but it runs with --models-max ${max}: loading one more would unload another. Raise --models-max in its unit, or split the mode.`;
      ctx.notes.push(reason);
      return { reason, neededMb: 0, availableMb: 0, gpu: group[0].svc.gpu };
    }
    const awake = group.filter((d) => d.fate.kind === 'awake');
    const extra = awake.filter((d) => !d.incoming);
    for (const d of extra.slice(0, Math.max(0, awake.length - max))) {
      Object.assign(d, { action: 'sleep', depth: 'router', fate: asleep('router'), reason: `${d.why}; unloads its model: ${unit} loads at most ${max} (--models-max), and ${ctx.target} needs ${wanted.map((w) => w.svc.name).join(', ')}` });
    }
  }
  return undefined;
}

/** A router serving a model that stays stops for none of its models: they unload instead. */
function keepRoutersServing(ctx: Ctx, decisions: Decision[]): void {
  for (const group of routerGroups(ctx, decisions)) {
    const serving = group.filter((d) => d.fate.kind !== 'off');
    if (serving.length === 0) continue;
    for (const d of group) {
      if (d.action !== 'stop') continue;
      const others = serving.filter((o) => o !== d).map((o) => o.svc.name);
      const keeps = others.length > 0 ? `its router keeps serving ${others.join(', ')}` : 'its router keeps running';
      Object.assign(d, { action: 'sleep', depth: 'router', fate: asleep('router'), reason: `${d.why}; unloads its model (not a stop: ${keeps})` });
    }
  }
}

/**
 * A service on the port an incoming one needs: they are alternatives, and a sleeping process would
 * still hold the port, so it stops (in the release phase, before the other starts).
 */
function giveWayTo(ctx: Ctx, svc: ServiceConfig, o: ServiceObservation, mate: string): Decision {
  const why = `not in ${ctx.target}`;
  const reason = `${why}; stops: ${mate} (in ${ctx.target}) listens on the same ${svc.host}:${svc.port}, and only one of them can run`;
  return { svc, obs: o, incoming: false, orphan: false, why, action: 'stop', fate: OFF, reason };
}

/** How a depth reads in a preview. */
export function depthLabel(depth: SleepDepth): string {
  return { l1: 'L1', l2: 'L2', router: 'model unloaded', hook: 'hook', idle: 'idle in its router, still in memory' }[depth];
}

function sleepDecision(d: Pick<Decision, 'svc' | 'obs' | 'incoming' | 'orphan' | 'why'>, depth: SleepDepth, reason: string): Decision {
  return { ...d, action: 'sleep', depth, fate: asleep(depth), reason };
}

// ---- budgets ----

function usage(ctx: Ctx, decisions: Decision[], gpu: number): number {
  const on = decisions.filter((d) => d.svc.gpus.includes(gpu));
  const routers = new Map<string, Decision[]>();
  let sum = 0;
  for (const d of on) {
    if (d.svc.driver === 'llamacpp') routers.set(d.svc.unit, [...(routers.get(d.svc.unit) ?? []), d]);
    else sum += vramOn(d.svc, gpu, d.fate, ctx.sizes);
  }
  // One router, however many models: its own residue once, each awake model's child on top.
  for (const group of routers.values()) sum += shareOn(group[0].svc, gpu, routerVramMb(group));
  return sum;
}

function ramAfter(ctx: Ctx, decisions: Decision[]): number {
  return decisions.reduce((sum, d) => sum + ramOf(d.svc, d.fate, ctx.sizes), 0);
}

/** The room a service of unknown size is given: all the card has beyond other processes and the margin. */
function wholeCard(ctx: Ctx, gpu: number): number {
  const total = ctx.totals.get(gpu);
  return total === undefined ? 0 : Math.max(0, total - foreign(ctx, gpu) - ctx.config.budget.marginMb);
}

/** Say which services are planned by the unknown-size rule, and how to lift it. */
function unknownSizeNotes(ctx: Ctx, decisions: Decision[]): void {
  for (const d of decisions) {
    if (d.fate.kind !== 'awake' || sourceOf(d.svc, d.fate, ctx.sizes) !== 'unknown') continue;
    ctx.notes.push(
      `${d.svc.name} has no vram_mb and gpumod has not measured it yet: planned as needing the whole card${d.svc.gpus.length > 1 ? 's' : ''} (${d.svc.gpus.map((g) => mb(wholeCard(ctx, g))).join(' + ')} beyond other processes and the margin) until it has been seen running; set vram_mb to plan it beside other services.`,
    );
  }
}

/** MB over the card on `gpu` (≤ 0 when it fits or the total is unknown). */
function overBy(ctx: Ctx, decisions: Decision[], gpu: number): number {
  const total = ctx.totals.get(gpu);
  if (total === undefined) return 0;
  return usage(ctx, decisions, gpu) + foreign(ctx, gpu) + ctx.config.budget.marginMb - total;
}

function ramOver(ctx: Ctx, decisions: Decision[]): number {
  const budget = ctx.config.budget.hostRamMb;
  return budget > 0 ? ramAfter(ctx, decisions) - budget : 0;
}

function foreign(ctx: Ctx, gpu: number): number {
  return ctx.obs.foreignMb.get(gpu) ?? 0;
}

function cardOf(ctx: Ctx, gpu: number): string {
  const total = ctx.totals.get(gpu);
  return total === undefined ? `GPU ${gpu}` : `this ${card(total)}`;
}

/** (1) Running services that are not needed and kept only because memory allowed: largest first. */
function stopRunningForRoom(ctx: Ctx, decisions: Decision[]): void {
  const kept = decisions
    .filter((d) => !d.incoming && d.action === 'keep' && d.fate.kind === 'awake')
    .sort((a, b) => vramOf(b.svc, AWAKE, ctx.sizes) - vramOf(a.svc, AWAKE, ctx.sizes));
  for (const d of kept) {
    const over = d.svc.gpus.find((g) => overBy(ctx, decisions, g) > 0);
    if (over === undefined) continue;
    const depth = sleepDepth(ctx, d.svc);
    const room = `its ${mb(vramOn(d.svc, over, AWAKE, ctx.sizes))} do not fit beside ${ctx.target} on ${cardOf(ctx, over)}`;
    if (depth && d.obs.state === 'running') {
      Object.assign(d, { action: 'sleep', depth, fate: asleep(depth), reason: `${d.why}; sleeps: ${room}` });
      ctx.notes.push(`${d.svc.name} sleeps rather than staying awake: ${room}.`);
    } else {
      Object.assign(d, { action: 'stop', depth: undefined, fate: OFF, reason: `${d.why}; stops: ${room}` });
      ctx.notes.push(`${d.svc.name} stops: it ${depth ? `is still ${d.obs.state}` : 'cannot sleep'}, and ${room}.`);
    }
  }
}

/** (2) L1 keeps weights in host RAM; L2 does not. Only sleeps begun by this switch can be chosen deeper. */
function deepenForRam(ctx: Ctx, decisions: Decision[]): void {
  if (ramOver(ctx, decisions) <= 0) return;
  const l1 = decisions
    .filter((d) => d.action === 'sleep' && d.depth === 'l1' && ctx.caps(d.svc).sleepLevels.includes('l2'))
    .sort((a, b) => ramOf(b.svc, asleep('l1'), ctx.sizes) - ramOf(a.svc, asleep('l1'), ctx.sizes));
  for (const d of l1) {
    if (ramOver(ctx, decisions) <= 0) return;
    const weights = ramOf(d.svc, asleep('l1'), ctx.sizes);
    Object.assign(d, { depth: 'l2', fate: asleep('l2'), reason: `${d.why}; sleeps (L2: host RAM budget)` });
    ctx.notes.push(
      `${d.svc.name} sleeps at L2 instead of L1: the host RAM budget (${mb(ctx.config.budget.hostRamMb)}) cannot also hold its ${mb(weights)} of weights; its wake takes ~${formatMs(ctx.est.ms(d.svc, 'wake', 'l2'))} instead of ~${formatMs(ctx.est.ms(d.svc, 'wake', 'l1'))}.`,
    );
  }
}

/** What keeping a residue is worth: the cold start it saves the next time the service is needed. */
function residueValue(ctx: Ctx, d: Decision): number {
  const depth = d.fate.kind === 'asleep' ? d.fate.depth : undefined;
  const wake = ctx.est.ms(d.svc, d.svc.driver === 'llamacpp' ? 'load' : 'wake', depth);
  return Math.max(1, ctx.est.ms(d.svc, 'start') - wake);
}

/**
 * What can be given up to make room: each sleeper alone, and a router serving several models as one
 * (its residue is the router's process, freed only when none of its models is wanted or awake).
 */
function residueCandidates(ctx: Ctx, decisions: Decision[]): Decision[][] {
  const shared = sharedRouters(ctx.config);
  const alone = decisions.filter((d) => !(d.svc.driver === 'llamacpp' && shared.has(d.svc.unit)) && !d.incoming && d.fate.kind === 'asleep').map((d) => [d]);
  const routers = routerGroups(ctx, decisions).filter((g) => g.every((d) => !d.incoming && d.fate.kind !== 'awake') && g.some((d) => d.fate.kind === 'asleep'));
  return [...alone, ...routers];
}

/**
 * (3) Stop sleepers until everything fits, keeping the set of residues whose cold starts are worth
 * most (an exhaustive search: there are a handful of sleepers; greedy by value per MB beyond that).
 */
function dropResidues(ctx: Ctx, decisions: Decision[]): void {
  const gpusOver = () => [...ctx.totals.keys()].filter((g) => overBy(ctx, decisions, g) > 0);
  if (gpusOver().length === 0 && ramOver(ctx, decisions) <= 0) return;
  const candidates = residueCandidates(ctx, decisions);
  if (candidates.length === 0) return;
  const fates = candidates.map((g) => g.map((d) => d.fate));
  const setFates = (i: number, keep: boolean): void => candidates[i].forEach((d, j) => (d.fate = keep ? fates[i][j] : OFF));
  const value = candidates.map((g) => Math.max(...g.map((d) => residueValue(ctx, d))));
  const overAny = (i: number): boolean => candidates[i][0].svc.gpus.some((g) => overBy(ctx, decisions, g) > 0);
  const vramWasOver = new Set(gpusOver());
  const alone = new Map<number, boolean>();
  // Which residues do not fit even with no other residue kept: said so in their note.
  candidates.forEach((_, i) => setFates(i, false));
  candidates.forEach((_, i) => {
    setFates(i, true);
    alone.set(i, overAny(i));
    setFates(i, false);
  });
  const fits = (mask: number): boolean => {
    candidates.forEach((_, i) => setFates(i, (mask & (1 << i)) !== 0));
    return gpusOver().length === 0 && ramOver(ctx, decisions) <= 0;
  };
  let best = 0;
  if (candidates.length <= EXHAUSTIVE_LIMIT) {
    // Most cold-start time saved; on a tie, more services kept; then the fewest MB held.
    let bestScore = [-1, -1, 0];
    for (let mask = 0; mask < 1 << candidates.length; mask++) {
      if (!fits(mask)) continue;
      const kept = candidates.map((_, i) => i).filter((i) => mask & (1 << i));
      const score = [kept.reduce((s, i) => s + value[i], 0), kept.reduce((s, i) => s + candidates[i].length, 0), -kept.reduce((s, i) => s + weight(ctx, candidates[i], fates[i]), 0)];
      if (better(score, bestScore)) [best, bestScore] = [mask, score];
    }
  } else {
    const order = candidates.map((_, i) => i).sort((a, b) => value[b] / weight(ctx, candidates[b], fates[b]) - value[a] / weight(ctx, candidates[a], fates[a]));
    for (const i of order) if (fits(best | (1 << i))) best |= 1 << i;
  }
  fits(best);
  const keptNames = candidates.filter((_, i) => best & (1 << i)).flatMap((g) => g.map((d) => d.svc.name));
  candidates.forEach((g, i) => {
    setFates(i, (best & (1 << i)) !== 0);
    if (best & (1 << i)) return;
    const residueMb = g.length > 1 ? routerResidueMb(g.map((d) => d.svc)) : vramOf(g[0].svc, fates[i][0], ctx.sizes);
    const router = g.length > 1 ? `the router ${g[0].svc.unit} (${g.map((d) => d.svc.name).join(', ')}) stops: ` : '';
    for (const [j, d] of g.entries()) {
      const wasSleepStep = d.action === 'sleep';
      const short = d.svc.gpus.filter((g) => vramWasOver.has(g));
      const ramOnly = short.length === 0;
      const where = `beside ${ctx.target} on ${short.length > 1 ? short.map((g) => `GPU ${g}`).join(' and ') : cardOf(ctx, short[0] ?? d.svc.gpu)}`;
      const cause = ramOnly
        ? `the host RAM budget (${mb(ctx.config.budget.hostRamMb)}) cannot hold its ${mb(ramOf(d.svc, fates[i][j], ctx.sizes))}`
        : alone.get(i)
          ? `its ${mb(residueMb)} residue does not fit ${where}`
          : `its ${mb(residueMb)} residue does not fit ${where} together with the residues kept (${keptNames.join(', ') || 'none'})`;
      Object.assign(d, { action: 'stop', depth: undefined, reason: `${d.why}; stops: ${router}${cause}` });
      ctx.notes.push(
        `${d.svc.name} stops${wasSleepStep ? ' rather than sleeping' : ''}: ${router}${cause}; the next time it is needed it cold-starts (~${formatMs(ctx.est.ms(d.svc, 'start'))}).`,
      );
    }
  });
}

function better(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

/** The memory a kept residue holds: a sleeper's, or a shared router's once for all its models (`fates`: theirs asleep). */
function weight(ctx: Ctx, g: Decision[], fates: Fate[] = g.map((d) => d.fate)): number {
  const ram = g.reduce((s, d, i) => s + ramOf(d.svc, fates[i], ctx.sizes), 0);
  const vram = g.length > 1 ? routerResidueMb(g.map((d) => d.svc)) : vramOf(g[0].svc, fates[0], ctx.sizes);
  return Math.max(1, vram + ram);
}

/** (4) What still does not fit after giving up everything that can be given up. */
function refusal(ctx: Ctx, decisions: Decision[]): Refusal | undefined {
  for (const [g, total] of ctx.totals) {
    if (total === undefined || overBy(ctx, decisions, g) <= 0) continue;
    const on = decisions.filter((d) => d.svc.gpus.includes(g));
    const awake = on.filter((d) => d.incoming).reduce((s, d) => s + vramOn(d.svc, g, d.fate, ctx.sizes), 0);
    const rest = usage(ctx, decisions, g) - awake;
    const margin = ctx.config.budget.marginMb;
    const needed = usage(ctx, decisions, g) + foreign(ctx, g) + margin;
    const parts = [`its services need ${awake} MB awake`];
    if (rest > 0) parts.push(`other services ${rest} MB`);
    parts.push(`other processes hold ${foreign(ctx, g)} MB`, `the margin is ${margin} MB`);
    const reason = `${ctx.target} does not fit on GPU ${g} (${card(total)}): ${parts.join(', ')}: ${needed} MB needed, but the card has ${total} MB (${needed - total} MB short).`;
    ctx.notes.push(reason);
    return { reason, neededMb: needed, availableMb: total, gpu: g };
  }
  const over = ramOver(ctx, decisions);
  if (over > 0) {
    const needed = ramAfter(ctx, decisions);
    const reason = `the sleeping services need ${needed} MB of host RAM, but budget.host_ram_mb is ${ctx.config.budget.hostRamMb} MB.`;
    ctx.notes.push(reason);
    return { reason, neededMb: needed, availableMb: ctx.config.budget.hostRamMb };
  }
  return undefined;
}

// ---- steps, notes, estimate ----

function toStep(ctx: Ctx, d: Decision): PlanStep {
  return {
    service: d.svc.name,
    action: d.action,
    depth: d.action === 'sleep' ? d.depth : undefined,
    reason: d.reason,
    estimateMs: stepEstimate(ctx, d),
    vramAfterMb: vramOf(d.svc, d.fate, ctx.sizes),
    ...(d.svc.gpus.length > 1 ? { vramAfterByGpu: Object.fromEntries(d.svc.gpus.map((g) => [g, vramOn(d.svc, g, d.fate, ctx.sizes)])) } : {}),
    ...(d.fate.kind !== 'off' ? { vramSource: sourceOf(d.svc, d.fate, ctx.sizes) } : {}),
    fromState: d.obs.state,
    fromSleep: d.obs.sleep,
    gpu: d.svc.gpu,
    incoming: d.incoming,
  };
}

function stepEstimate(ctx: Ctx, d: Decision): number {
  switch (d.action) {
    case 'keep':
      return 0;
    case 'wake':
    case 'load':
      return ctx.est.ms(d.svc, d.action, d.obs.sleep);
    case 'sleep':
      return ctx.est.ms(d.svc, 'sleep', d.depth);
    default:
      return ctx.est.ms(d.svc, d.action);
  }
}

/** Phases: release (parallel) → wait for freed memory → acquire with readiness (parallel). */
function estimatePhases(ctx: Ctx, decisions: Decision[], steps: PlanStep[]): PhaseEstimate {
  const release = steps.filter((s) => s.action === 'sleep' || s.action === 'stop');
  const acquire = decisions.filter((d) => d.action === 'wake' || d.action === 'load' || d.action === 'start');
  return {
    releaseMs: Math.max(0, ...release.map((s) => s.estimateMs)),
    waitFreeMs: release.some((s) => s.action === 'stop') ? WAIT_AFTER_STOP_MS : release.length > 0 ? WAIT_AFTER_SLEEP_MS : 0,
    acquireMs: Math.max(0, ...acquire.map((d) => stepEstimate(ctx, d) + ctx.est.ms(d.svc, 'ready'))),
  };
}

function slowNote(steps: PlanStep[], estimateMs: number): string {
  const slowest = [...steps].sort((a, b) => b.estimateMs - a.estimateMs)[0];
  const what = slowest.action === 'start' ? 'cold start' : slowest.action;
  return `This switch takes about ${formatMs(estimateMs)}, mostly the ${what} of ${slowest.service} (~${formatMs(slowest.estimateMs)}).`;
}

/** Say why each unavoidable cold start and each llama.cpp reload cannot be a quick wake. */
function coldStartNotes(ctx: Ctx, decisions: Decision[]): void {
  for (const d of decisions) {
    if (!d.incoming) continue;
    if (d.action === 'load') {
      ctx.notes.push(
        `${d.svc.name} loads its model (~${formatMs(ctx.est.ms(d.svc, 'load', d.obs.sleep))}): a llama.cpp load is a real reload of the weights from disk, not a wake.`,
      );
    }
    if (d.action !== 'start' || d.obs.state === 'starting') continue;
    ctx.notes.push(`${d.svc.name} must cold-start (~${formatMs(ctx.est.ms(d.svc, 'start'))}): ${coldStartWhy(ctx, d)}.`);
  }
}

function coldStartWhy(ctx: Ctx, d: Decision): string {
  const o = d.obs;
  if (o.state === 'failed') return `it has failed${o.detail ? ` (${o.detail})` : ''}`;
  if (o.state === 'unknown') return `its state is unknown${o.detail ? ` (${o.detail})` : ''}`;
  if (o.state === 'stopping') return 'it is stopping';
  if (!sleepDepth(ctx, d.svc)) return 'it cannot sleep, so no process was kept to wake';
  const from = ctx.from ? ctx.config.modes.get(ctx.from) : undefined;
  // On a service's first card (each of a spread service's cards holds its even share).
  const g = d.svc.gpu;
  const total = ctx.totals.get(g);
  if (!from || total === undefined) return 'it is stopped, so there is no process to wake';
  const services = (n: string) => ctx.config.services.get(n);
  const awake = from.services.map(services).reduce((sum, s) => sum + (s ? vramOn(s, g, AWAKE, ctx.sizes) : 0), 0);
  const room = total - awake - foreign(ctx, g) - ctx.config.budget.marginMb;
  const where = `beside ${from.name} on this ${card(total)}`;
  const residueOf = (s: ServiceConfig): number => {
    const depth = sleepDepth(ctx, s);
    return depth ? vramOn(s, g, asleep(depth), ctx.sizes) : 0;
  };
  const own = residueOf(d.svc);
  if (own > room) return `its ${mb(own)} residue does not fit ${where}`;
  const residues = [...ctx.config.services.values()]
    .filter((s) => s.gpus.includes(g) && !from.services.includes(s.name) && depthFor(s.sleep))
    .reduce((sum, s) => sum + residueOf(s), 0);
  if (residues > room) {
    return `it is stopped: beside ${from.name} this ${card(total)} keeps only ${mb(Math.max(0, room))} of sleeping residues, and its ${mb(own)} residue was not among them`;
  }
  return 'it is stopped, so there is no process to wake';
}

function budgets(ctx: Ctx, decisions: Decision[]): Budget[] {
  return [...ctx.totals].map(([g, total]) => {
    const on = decisions.filter((d) => d.svc.gpus.includes(g));
    const before = on.reduce((s, d) => s + vramOn(d.svc, g, fateOf(d.obs), ctx.sizes), 0);
    const holding = on.filter((d) => d.fate.kind !== 'off' && vramOn(d.svc, g, d.fate, ctx.sizes) > 0);
    const from = (src: string): string[] => holding.filter((d) => sourceOf(d.svc, d.fate, ctx.sizes) === src).map((d) => d.svc.name);
    return {
      gpu: g,
      totalMb: total,
      beforeMb: observedUsedMb(ctx.obs, g) ?? before + foreign(ctx, g),
      afterMb: usage(ctx, decisions, g) + foreign(ctx, g),
      sources: { measured: from('measured'), declared: from('declared'), unknown: from('unknown') },
      marginMb: ctx.config.budget.marginMb,
      foreignMb: foreign(ctx, g),
    };
  });
}
