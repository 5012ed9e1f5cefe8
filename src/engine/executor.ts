import { shareOn } from './budget';
import type { Config, ServiceConfig } from '../config/types';
import { GpumodError, isGpumodError } from '../errors';
import type { GpuSnapshot } from './machinePorts';
import { childController } from './deadline';
import { observe } from './observe';
import type { EnginePorts } from './ports';
import { HOLDS_VRAM, rollBack, type Performed } from './rollback';
import { inSeriesPerRouter, restoreKept } from './restoreKept';
import { routerMates } from './routers';
import { proveSleep } from './sleepProof';
import { wakeChanged } from './wakeCheck';
import { awaitsUnderWay, failureOf, readyAnswer, runAction, StepNote, stepTimeoutMs, timed, type Recorder, type RunAction, type StepEvent, type StepFailure } from './steps';
import type { Observation, Plan, PlanStep, TimelineEntry } from './types';
import { freeMb, snapshotOrUnavailable, waitBoundMs, waitForFreedMemory, waitForRoom, type Released } from './waitFree';

export interface ExecOptions {
  signal?: AbortSignal;
  onStep?: (e: StepEvent) => void;
  /** Sleep without draining in-flight requests (vLLM). */
  force?: boolean;
  /** Default true: undo the launched steps when one fails or the switch is cancelled. */
  rollback?: boolean;
  /** The switch's time origin (timeline times are relative to it); default: now. */
  t0?: number;
  /** The GPU as observed for the plan, just before: the freed-memory baseline without another nvidia-smi run. */
  baseline?: GpuSnapshot;
  /** Each service's readiness answer after its last cold start, where that process still runs. */
  answers?: ReadonlyMap<string, string>;
}

export interface ExecResult {
  ok: boolean;
  cancelled: boolean;
  rolledBack: boolean;
  /** The first step that failed (the cause; later steps were cut short because of it). */
  failure?: StepFailure;
  rollbackFailures: StepFailure[];
  timeline: TimelineEntry[];
  /** Every launched plan step, for a later rollback (the switcher's verify can still fail). */
  performed: Performed[];
  totalMs: number;
  /** Observed after a rollback: where the machine ended up. */
  final?: Observation;
  /** What the switch did other than planned (a sleep that freed nothing, stopped instead). */
  notes: string[];
  /** Readiness answers taken after a cold start: the references later wakes must match. */
  answers: Map<string, string>;
}

/** How long a sleep's freed memory may take to show on the GPU at most (it shows within a poll or two). */
const SLEEP_PROOF_MS = 5000;

/**
 * Carries out a plan in phases: release (sleeps and stops, in parallel) → wait until the GPU shows the
 * memory freed → acquire (wakes, loads, cold starts, in parallel while the card has room; largest first
 * otherwise), each followed by its readiness check. Every step has its configured deadline; the
 * signal aborts running steps and launches no new ones; then the launched steps are undone.
 */
export async function execute(plan: Plan, config: Config, ports: EnginePorts, opts: ExecOptions = {}): Promise<ExecResult> {
  if (plan.refused) throw new GpumodError('BUDGET', plan.refused.reason);
  const unknown = plan.steps.find((s) => !config.services.has(s.service));
  if (unknown) throw new GpumodError('USAGE', `the plan names ${unknown.service}, which the configuration does not have`);
  const rec: Recorder = { t0: opts.t0 ?? ports.clock.now(), timeline: [], onStep: opts.onStep };
  const run = childController(opts.signal);
  const performed: Performed[] = [];
  const notes: string[] = [];
  const answers = new Map<string, string>();
  const release = plan.steps.filter((s) => s.action === 'sleep' || s.action === 'stop');
  const acquire = plan.steps.filter((s) => s.action === 'wake' || s.action === 'load' || s.action === 'start');
  let baseline: GpuSnapshot | undefined;
  /**
   * When the last release was answered (before its sleep proof): a GPU sample from after that moment
   * shows what the releases freed as well as any later one, so the sleep proof's own sample can be
   * the wait for freed memory's first look instead of a sample period more.
   */
  let answeredAt: number | undefined;
  let failure: StepFailure | undefined;
  // A cancel that arrives after the last step finished does not undo a complete switch.
  let cutShort = false;

  const step = async (s: PlanStep, phase: 'release' | 'acquire', gate?: () => Promise<void>): Promise<boolean> => {
    if (run.signal.aborted) {
      cutShort = true;
      return false;
    }
    const svc = config.services.get(s.service)!;
    const p: Performed = { step: s, outcome: 'running' };
    performed.push(p);
    const depth = s.action === 'sleep' ? s.depth : s.action === 'wake' || s.action === 'load' ? s.fromSleep : undefined;
    const label = { service: s.service, action: s.action, phase, depth, ...(awaitsUnderWay(s) ? { awaited: true as const } : {}), estimateMs: s.estimateMs };
    const t = await timed(ports, rec, label, async () => {
      const began = ports.clock.now();
      await gate?.();
      await runAction(svc, s.action as RunAction, depth, ports, run.signal, { force: opts.force });
      if (phase === 'release') answeredAt = Math.max(answeredAt ?? 0, ports.clock.now());
      if (s.action !== 'sleep') return;
      // Memory shows freed within a poll or two of a sleep's answer (anchors.md); the step's deadline caps it.
      const left = svc.sleepTimeoutMs - (ports.clock.now() - began);
      await proveSleep(svc, baseline, ports, run.signal, Math.max(0, Math.min(left, SLEEP_PROOF_MS)), routerMates(config, svc));
    });
    p.entry = t.entry;
    p.outcome = t.entry.result === 'ok' ? 'ok' : t.entry.result === 'cancelled' ? 'cancelled' : 'failed';
    if (p.outcome === 'cancelled') cutShort = true;
    if (p.outcome === 'failed' && isGpumodError(t.error, 'SLEEP_INEFFECTIVE') && !run.signal.aborted) return stopInstead(s, svc, t.error);
    if (p.outcome === 'failed') fail(failureOf(t.entry, t.error));
    if (p.outcome !== 'ok') return false;
    if (phase === 'release' || !svc.readiness) return true;
    return ready(s, svc, s.action === 'wake' || s.action === 'load' ? opts.answers?.get(s.service) : undefined);
  };
  /**
   * Readiness right behind each wake (a fast wake is ready while a slow cold start still runs). After
   * a cold start its answer is the service's reference; after a wake it must match it: a model that
   * answers otherwise was woken wrong (an L2 wake without reload_weights, a stale prefix cache, LoRA
   * adapters corrupted by a wake) and is restarted cold.
   */
  const ready = async (s: PlanStep, svc: ServiceConfig, reference: string | undefined): Promise<boolean> => {
    let answer: string | undefined;
    const r = await timed(ports, rec, { service: s.service, action: 'ready', phase: 'ready' }, async () => {
      answer = await readyAnswer(svc, ports, run.signal);
      const changed = wakeChanged(svc.name, answer, reference);
      if (changed) throw changed;
    });
    if (r.entry.result === 'ok') {
      if (answer !== undefined && s.action === 'start') answers.set(s.service, answer);
      return true;
    }
    if (r.entry.result === 'cancelled') cutShort = true;
    else if (isGpumodError(r.error, 'WAKE_CHANGED') && !run.signal.aborted) return restartCold(s, svc, r.error);
    else fail(failureOf(r.entry, r.error));
    return false;
  };
  const restartCold = async (s: PlanStep, svc: ServiceConfig, why: GpumodError): Promise<boolean> => {
    notes.push(`${svc.name} was restarted cold: ${why.message}`);
    const t = await timed(ports, rec, { service: s.service, action: 'restart', phase: 'acquire' }, () => runAction(svc, 'restart', undefined, ports, run.signal));
    if (t.entry.result !== 'ok') {
      if (t.entry.result === 'cancelled') cutShort = true;
      else fail(failureOf(t.entry, t.error));
      return false;
    }
    return ready({ ...s, action: 'start' }, svc, undefined);
  };
  /**
   * A sleep that freed nothing: where the target needs that memory the service stops instead (and
   * the switch says so); where it does not, the switch fails and rolls back rather than record a
   * sleeper that is not one.
   */
  const stopInstead = async (s: PlanStep, svc: ServiceConfig, error: GpumodError): Promise<boolean> => {
    const snap = await snapshotOrUnavailable(ports, run.signal);
    // An empty mode exists to give the card back: there the memory is always needed.
    const freeingTheCard = config.modes.get(plan.to)?.services.length === 0;
    if (!freeingTheCard && roomFor(config, acquire, snap, true)) {
      fail({ service: s.service, action: 'sleep', error: `${error.message}; ${plan.to} does not need its memory, so the switch is undone rather than record a sleep that is not one`, code: error.code });
      return false;
    }
    notes.push(`${svc.name} stopped instead of sleeping: ${error.message}`);
    return step({ ...s, action: 'stop', depth: undefined, reason: `its sleep freed nothing and ${plan.to} needs the memory` }, 'release');
  };
  const fail = (f: StepFailure): void => {
    if (failure) return;
    failure = f;
    run.abort(new GpumodError('CANCELLED', `cut short: ${f.action} ${f.service} failed`));
  };

  let snap: GpuSnapshot | undefined;
  if (release.length > 0) {
    baseline = opts.baseline ?? (await snapshotOrUnavailable(ports, run.signal));
    await Promise.all(release.map((s) => step(s, 'release')));
    if (!run.signal.aborted) snap = await waitFree(config, release, acquire, baseline, ports, rec, run.signal, answeredAt ?? ports.clock.now());
  }
  if (acquire.length > 0 && run.signal.aborted) cutShort = true;
  else if (acquire.length > 0) {
    snap ??= opts.baseline ?? (await snapshotOrUnavailable(ports, run.signal));
    await acquirePhase(config, acquire, snap, ports, run.signal, (s, gate) => step(s, 'acquire', gate));
  }
  if (run.signal.aborted && performed.length < release.length + acquire.length) cutShort = true;

  const cancelled = opts.signal?.aborted === true && cutShort && !failure;
  const ok = !failure && !cancelled;
  let rolledBack = false;
  let rollbackFailures: StepFailure[] = [];
  let final: Observation | undefined;
  if (!ok && opts.rollback !== false) {
    rollbackFailures = await rollBack(performed, config, ports, rec);
    rollbackFailures.push(...(await restoreKept(plan, config, ports, rec)));
    rolledBack = true;
  }
  if (!ok) final = await observe(config, ports, new AbortController().signal);
  return {
    ok,
    cancelled,
    rolledBack,
    failure,
    rollbackFailures,
    timeline: rec.timeline,
    performed,
    totalMs: ports.clock.now() - rec.t0,
    final,
    notes,
    answers,
  };
}

async function waitFree(
  config: Config,
  release: PlanStep[],
  acquire: PlanStep[],
  baseline: GpuSnapshot,
  ports: EnginePorts,
  rec: Recorder,
  signal: AbortSignal,
  releasedAt: number,
): Promise<GpuSnapshot> {
  // The wait only buys room: when the card already shows room for every incoming service, it is pure
  // delay. With nothing incoming (e.g. `blank`), the switch still waits, so the card is free when it ends.
  if (acquire.length > 0 && roomFor(config, acquire, baseline, true)) {
    ports.log.info('wait-free gpu: not needed, the card already has room for every incoming service');
    return baseline;
  }
  const released: Released[] = release.map((s) => {
    const svc = config.services.get(s.service)!;
    return { svc, action: s.action as 'sleep' | 'stop', wasAwake: HOLDS_VRAM.includes(s.fromState), mates: routerMates(config, svc) };
  });
  const estimate = new Map(release.map((s) => [s.service, s.estimateMs]));
  const bound = waitBoundMs(released, (r) => estimate.get(r.svc.name) ?? 0);
  let out: GpuSnapshot = baseline;
  await timed(ports, rec, { service: 'gpu', action: 'wait-free', phase: 'wait-free' }, async () => {
    const w = await waitForFreedMemory(released, baseline, ports, signal, bound, releasedAt);
    out = w.last;
    // Not seeing the memory freed is not a failure: the acquire phase re-checks the room it needs.
    if (w.result === 'skipped' || w.result === 'timeout') throw new StepNote(w.result, w.detail ?? '');
  });
  return out;
}

/** What a step adds over its cards: the full VRAM, less the residue it already holds. */
function deltaMb(config: Config, s: PlanStep): number {
  const svc = config.services.get(s.service);
  if (!svc) return 0;
  return svc.vramMb - (s.fromState === 'sleeping' ? svc.sleepVramMb : HOLDS_VRAM.includes(s.fromState) ? svc.vramMb : 0);
}

/** What a step adds on each of its cards (a spread service's even share on each). */
function needs(config: Config, s: PlanStep): Map<number, number> {
  const svc = config.services.get(s.service);
  const delta = deltaMb(config, s);
  return new Map((svc?.gpus ?? [s.gpu]).map((g) => [g, svc ? shareOn(svc, g, delta) : delta]));
}

/** Whether `snap` shows room (with the margin) for every step of `acquire`; an unknown free figure counts as room unless `strict`. */
function roomFor(config: Config, acquire: PlanStep[], snap: GpuSnapshot, strict: boolean): boolean {
  const need = new Map<number, number>();
  for (const s of acquire) for (const [g, n] of needs(config, s)) need.set(g, (need.get(g) ?? 0) + n);
  return [...need].every(([g, n]) => {
    const free = freeMb(snap, g);
    return free === undefined ? !strict : free - config.budget.marginMb >= n;
  });
}

/**
 * All at once when the card shows room for all of them (the usual case: the planner checked the
 * budget); otherwise one after another, largest first, each once the card shows its room. A step
 * never starts into memory that is not free: it waits for the room until its own deadline, then fails.
 */
async function acquirePhase(
  config: Config,
  acquire: PlanStep[],
  snap: GpuSnapshot,
  ports: EnginePorts,
  signal: AbortSignal,
  step: (s: PlanStep, gate?: () => Promise<void>) => Promise<boolean>,
): Promise<void> {
  const margin = config.budget.marginMb;
  if (roomFor(config, acquire, snap, false)) {
    await inSeriesPerRouter(config, acquire, (s) => s.service, step);
    return;
  }
  ports.log.info('the card does not show room for every wake at once: acquiring largest first');
  const order = [...acquire].sort((a, b) => deltaMb(config, b) - deltaMb(config, a));
  for (const s of order) {
    if (signal.aborted) return;
    const svc = config.services.get(s.service)!;
    const gate = async (): Promise<void> => {
      // Each of its cards in turn, each wait within the step's own deadline.
      for (const [g, need] of needs(config, s)) {
        const room = await waitForRoom(g, need, margin, ports, signal, stepTimeoutMs(svc, s.action as RunAction));
        if (!room.ok) {
          throw new GpumodError(
            'BUDGET',
            `GPU ${g} shows ${room.freeMb} MB free, but ${s.service} needs ${need} MB${svc.gpus.length > 1 ? ' there' : ''} (+ ${margin} MB margin): not started into memory that is not free`,
          );
        }
      }
    };
    if (!(await step(s, gate))) return;
  }
}
