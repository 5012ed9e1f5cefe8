import type { Config, ServiceConfig } from '../config/types';
import type { GpuSnapshot } from './machinePorts';
import { GpumodError, isGpumodError } from '../errors';
import { AWAKE, card, fateOf, gpuTotalMb, ownSleepDepth, sourceOf, vramOn, type Sizes } from './budget';
import { currentMode } from './currentMode';
import { formatMs } from './deadline';
import { execute } from './executor';
import { measuredNow, type Footprints } from './footprints';
import { estimates, firstAnswer } from './history';
import { learnFrom } from './learn';
import { lookAgainAtUnknown, observe, observeApart, worthASecondLook } from './observe';
import { plan as makePlan, type OrphanPolicy } from './planner';
import type { EnginePorts, ObservePorts } from './ports';
import { rollBack } from './rollback';
import { restoreKept } from './restoreKept';
import { explainEnded, routerServiceAction } from './routers';
import { failureOf, readyAnswer, runAction, timed, type Recorder, type RunAction, type StepEvent, type StepFailure } from './steps';
import { validActions, type ServiceAction } from './actions';
import { wakeChanged } from './wakeCheck';
import { WATCH_PERIOD_MS } from './waitFree';
import type { Observation, Plan, RecordedAnswer, ServiceObservation, SwitchInProgress, SwitchRecord, SwitchState, TimelineEntry } from './types';

/** The GPU of the observation a successful switch returns: its verification looks at the services only. */
const NOT_QUERIED: GpuSnapshot = { available: false, reason: 'not queried to verify the switch' };

/** Enough runs to give every (service, action) its last five samples. */
const HISTORY_LIMIT = 200;

export interface SwitchOptions {
  signal?: AbortSignal;
  /** Sleep without draining in-flight requests; for single actions, also skip the budget check. */
  force?: boolean;
  onStep?: (e: StepEvent) => void;
  /** Called with the plan before anything changes (a preview, the progress title). */
  onPlan?: (plan: Plan) => void;
  orphanPolicy?: OrphanPolicy;
  /** Who holds the lock, for the message another window sees ("VS Code window 4242"). */
  owner?: string;
  /**
   * The mode state.json records after a switch to a mode of the moment (a gateway wake), which is no
   * mode of the user's: what the observation amounts to in their config (`prior`: the state file
   * before the switch). Default: the target. Such a switch keeps the services asleep for idleness so.
   */
  recordAs?: (observation: Observation, prior: SwitchState | undefined) => string | undefined;
}

export interface SwitchResult {
  ok: boolean;
  noop: boolean;
  cancelled: boolean;
  rolledBack: boolean;
  from: string | undefined;
  to: string;
  /** Where the machine ended up (the target on success). */
  mode: string | undefined;
  plan: Plan;
  timeline: TimelineEntry[];
  totalMs: number;
  failure?: StepFailure;
  rollbackFailures: StepFailure[];
  /** After a successful switch, the services as verified; the GPU is not queried again (unavailable). */
  observation: Observation;
  /** When the incoming models first answered (readiness requests), ms from the start; undefined where none ran. */
  firstAnswerMs?: number;
  /** One sentence for a notification. */
  message: string;
}

/** "its models" when every service the switch brought up answered a readiness request, else their names. */
function answeredWho(plan: Plan, answered: string[]): string {
  const incoming = plan.steps.filter((s) => s.action === 'wake' || s.action === 'load' || s.action === 'start').map((s) => s.service);
  return incoming.every((n) => answered.includes(n)) ? 'its models' : answered.join(' and ');
}

/**
 * observe → plan → execute → verify → commit, under the machine-wide lock. A refused plan throws
 * BUDGET (nothing was touched); a failed or cancelled switch is rolled back and returned with ok=false.
 */
export async function switchMode(config: Config, target: string, ports: EnginePorts, opts: SwitchOptions = {}): Promise<SwitchResult> {
  if (!config.modes.has(target)) throw new GpumodError('USAGE', `unknown mode "${target}" (modes: ${[...config.modes.keys()].join(', ')})`);
  // The GPU watch starts while the lock is taken: its first sample is ready for the first look.
  const unfollow = ports.gpu.follow?.(WATCH_PERIOD_MS);
  try {
    const release = await ports.lock.acquire({ command: opts.owner ?? 'gpumod switch', target });
    try {
      return await switchLocked(config, target, ports, opts);
    } finally {
      await release();
    }
  } finally {
    unfollow?.();
  }
}

export interface Preview {
  plan: Plan;
  observation: Observation;
  from: string | undefined;
  /** The state file as it was (the recorded mode, the readiness answers). */
  prior: SwitchState | undefined;
  /** The learned footprints, this observation included. */
  footprints: Footprints;
}

/**
 * The plan a switch would run now, without the lock and without touching anything: the preview of
 * `gpumod plan` and of the Switch Mode quick pick, and the first step of a switch.
 */
export async function previewPlan(
  config: Config,
  target: string,
  ports: ObservePorts & Pick<EnginePorts, 'store'>,
  /** `observation` may still be under way: the state file and the history are read meanwhile. */
  /** `background`: the footprints this look taught are written while the caller goes on (a switch, which waits for its later write). */
  opts: { signal?: AbortSignal; orphanPolicy?: OrphanPolicy; observation?: Observation | Promise<Observation>; background?: boolean } = {},
): Promise<Preview> {
  if (!config.modes.has(target)) throw new GpumodError('USAGE', `unknown mode "${target}" (modes: ${[...config.modes.keys()].join(', ')})`);
  const signal = opts.signal ?? new AbortController().signal;
  const [obs, history, prior] = await Promise.all([
    opts.observation ?? observe(config, ports, signal),
    ports.store.readHistory(HISTORY_LIMIT),
    ports.store.readState(),
  ]);
  explainEnded(config, obs, prior);
  const footprints = await learnFrom(config, obs, ports.store, ports.log, undefined, opts.background);
  const from = currentMode(config, obs, prior?.mode, prior?.idle).mode;
  const plan = makePlan(config, obs, target, {
    estimates: estimates(history),
    measured: measuredNow(footprints, config, obs),
    orphanPolicy: opts.orphanPolicy,
    currentMode: from,
    capabilities: (svc) => ports.drivers(svc).capabilities(svc),
  });
  return { plan, observation: obs, from, prior, footprints };
}

/** The services whose units the plan leaves active: the verification probes them while systemd answers. */
function activeAfter(plan: Plan, before: Observation): Set<string> {
  const out = new Set([...before.services.values()].filter((o) => o.unit?.activeState === 'active').map((o) => o.name));
  for (const s of plan.steps) {
    if (s.action === 'stop') out.delete(s.service);
    else if (s.action === 'start' || s.action === 'wake' || s.action === 'load') out.add(s.service);
  }
  return out;
}

/** The first look of a switch under the lock, those not seen the first time looked at again. */
export function switchLook(config: Config, ports: EnginePorts, signal: AbortSignal): Promise<Observation> {
  return observe(config, ports, signal).then((o) => lookAgainAtUnknown(config, o, ports, signal));
}

/**
 * switchLook, but when the services alone show `target` reached with nothing to do (every service
 * seen, none to wake, sleep, start or stop), that look without waiting for the GPU's: no step is
 * planned from memory figures then, and a no-op switch costs no nvidia-smi sample.
 */
async function firstLook(config: Config, target: string, ports: EnginePorts, signal: AbortSignal): Promise<Observation> {
  const gpuCancel = new AbortController();
  const cancel = (): void => gpuCancel.abort();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    const apart = observeApart(config, ports, signal, gpuCancel.signal);
    const services = await apart.services;
    const seenAll = ![...services.services.values()].some(worthASecondLook);
    if (seenAll && unmetIn(config, target, services).length === 0 && makePlan(config, services, target, { capabilities: (svc) => ports.drivers(svc).capabilities(svc) }).noop) {
      gpuCancel.abort();
      return services;
    }
    return lookAgainAtUnknown(config, await apart.full, ports, signal);
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

/**
 * A switch for a caller that holds the lock already and has looked under it (`seen`, from switchLook):
 * the gateway decides its target from that look (engine/onDemandSwitch.ts).
 */
export function switchUnderLock(config: Config, target: string, ports: EnginePorts, opts: SwitchOptions, looked: { seen: Observation; startedAt: number }): Promise<SwitchResult> {
  return switchLocked(config, target, ports, opts, looked);
}

async function switchLocked(config: Config, target: string, ports: EnginePorts, opts: SwitchOptions, looked?: { seen: Observation; startedAt: number }): Promise<SwitchResult> {
  const startedAt = looked?.startedAt ?? ports.clock.now();
  const signal = opts.signal ?? new AbortController().signal;
  const seen = looked?.seen ?? firstLook(config, target, ports, signal);
  const { plan, observation: obs, from, prior, footprints } = await previewPlan(config, target, ports, { signal, orphanPolicy: opts.orphanPolicy, observation: seen, background: true });
  const references = currentAnswers(prior?.answers, obs);
  // A switch to a mode wakes what it needs: only a gateway's switch leaves idle sleepers counted as such.
  const idle = opts.recordAs ? prior?.idle : undefined;
  opts.onPlan?.(plan);
  if (plan.refused) throw new GpumodError('BUDGET', plan.refused.reason);
  const base = { from, to: target, plan, rollbackFailures: [] as StepFailure[] };
  if (plan.noop) {
    // Nothing to do is a claim about the machine: it is checked like any switch's result.
    const unmet = unmetIn(config, target, obs);
    const mode = unmet.length === 0 ? target : currentMode(config, obs, from).mode;
    const state: SwitchState = { ...stateOf(obs, opts.recordAs && unmet.length === 0 ? opts.recordAs(obs, prior) : mode, ports.clock.now(), idle), answers: references };
    // A state file that already says all this is left as it is (only its time would change).
    if (!prior || canonical({ ...prior, at: 0 }) !== canonical({ ...state, at: 0 })) await commitState(ports, state);
    if (unmet.length === 0) {
      return { ...base, ok: true, noop: true, cancelled: false, rolledBack: false, mode, timeline: [], totalMs: 0, observation: obs, message: `Already in ${target}.` };
    }
    const failure: StepFailure = { service: target, action: 'verify', error: unmet.join('; ') };
    const message = `${target} is not reached, and nothing can be done about it now: ${failure.error}.`;
    ports.log.warn(message);
    return { ...base, ok: false, noop: true, cancelled: false, rolledBack: false, mode, timeline: [], totalMs: ports.clock.now() - startedAt, failure, observation: obs, message };
  }

  const switching: SwitchInProgress = { from, to: target, pid: ports.pid, startedAt, ...(ports.procStart !== undefined ? { procStart: ports.procStart } : {}) };
  // Written before anything changes: after a crash, recover() knows a switch was under way.
  await ports.store.writeState({ ...stateOf(obs, from, startedAt, prior?.idle), switching, answers: references });
  ports.log.info(`switch ${from ?? '(no mode)'} → ${target}: estimate ${formatMs(plan.estimateMs)}`);
  const exec = await execute(plan, config, ports, {
    signal,
    onStep: opts.onStep,
    force: opts.force,
    t0: startedAt,
    baseline: obs.gpu,
    answers: new Map(Object.entries(references).map(([n, a]) => [n, a.answer])),
  });

  let { ok, failure, rolledBack, rollbackFailures } = exec;
  let final = exec.final;
  let partial = false;
  if (ok) {
    const rec: Recorder = { t0: startedAt, timeline: exec.timeline, onStep: opts.onStep };
    let after: Observation | undefined;
    const v = await timed(ports, rec, { service: target, action: 'verify', phase: 'verify' }, async () => {
      // The states are what is verified; another nvidia-smi run would only cost time (each query is
      // tens of ms on real hardware), and the UI re-observes after a switch anyway.
      after = await observe(config, ports, new AbortController().signal, { gpu: NOT_QUERIED, expectActive: activeAfter(plan, obs) });
      const unmet = unmetIn(config, target, after);
      if (unmet.length > 0) throw new GpumodError('SWITCH_FAILED', unmet.join('; '));
    });
    final = after;
    if (v.error !== undefined) {
      ok = false;
      failure = failureOf(v.entry, v.error);
      // Only services the plan left alone because they could not be seen are off: undoing the rest
      // would not bring the mode closer. Anything else goes back to where the switch found it.
      const untouched = new Set(plan.steps.filter((st) => st.action === 'keep' && st.fromState === 'unknown').map((st) => st.service));
      const missing = unmetServices(config, target, after!);
      if (missing.length > 0 && missing.every((n) => untouched.has(n))) {
        partial = true;
      } else {
        rollbackFailures = await rollBack(exec.performed, config, ports, rec);
        rollbackFailures.push(...(await restoreKept(plan, config, ports, rec)));
        rolledBack = true;
        final = await observe(config, ports, new AbortController().signal);
      }
    }
  }
  const observation = final ?? (await observe(config, ports, new AbortController().signal));
  const mode = ok ? target : currentMode(config, observation, from).mode;
  const totalMs = ports.clock.now() - startedAt;
  const recorded = ok && opts.recordAs ? opts.recordAs(observation, prior) : mode;
  const record: SwitchRecord = {
    kind: 'switch',
    from,
    to: target,
    startedAt,
    totalMs,
    estimateMs: plan.estimateMs,
    phaseEstimates: plan.phases,
    ok,
    rolledBack,
    cancelled: exec.cancelled,
    steps: exec.timeline,
  };
  if (failure) record.error = `${failure.action} ${failure.service}: ${failure.error}`;
  // Three files, written side by side. The verification does not query the GPU: the footprints learn
  // the sleepers' host RAM from it; the next observation the VRAM.
  await Promise.all([
    learnFrom(config, observation, ports.store, ports.log, footprints),
    commitState(ports, { ...stateOf(observation, recorded, ports.clock.now(), ok ? idle : prior?.idle), answers: currentAnswers(references, observation, exec.answers) }),
    appendHistory(ports, record),
  ]);
  const aside = exec.notes.map((n) => ` ${n}.`).join('');
  const answer = ok ? firstAnswer(exec.timeline) : undefined;
  const answered = answer?.ms;
  const message = ok
    ? `Switched to ${target} in ${formatMs(totalMs)} (estimate ${formatMs(plan.estimateMs)})${answer ? `; ${answeredWho(plan, answer.services)} answered after ${formatMs(answer.ms)}` : ''}.${aside}`
    : partial
      ? `Switch to ${target} done as far as it could go, but ${target} is not fully reached: ${failure?.error}; the machine is ${mode ? `in ${mode}` : 'in no mode'}.`
      : `${exec.cancelled ? `Switch to ${target} cancelled` : `Switch to ${target} failed: ${failure?.action} ${failure?.service}: ${failure?.error}`}` +
      `${rolledBack ? `; rolled back${rollbackFailures.length ? ` (${rollbackFailures.length} step(s) of the rollback failed)` : ''}` : ''}` +
      `; the machine is ${mode ? `in ${mode}` : 'in no mode'}.`;
  if (ok) ports.log.info(message);
  else ports.log.warn(message);
  return { ...base, ok, noop: false, cancelled: exec.cancelled, rolledBack, mode, timeline: exec.timeline, totalMs, failure, rollbackFailures, observation, message, ...(answered !== undefined ? { firstAnswerMs: answered } : {}) };
}

/** The target's services that do not serve (or, for an empty mode, the services still holding the card). */
function unmetServices(config: Config, target: string, obs: Observation): string[] {
  const wanted = config.modes.get(target)?.services ?? [];
  if (wanted.length > 0) return wanted.filter((n) => { const o = obs.services.get(n); return !o || o.state !== 'running' || !o.healthy; });
  return [...obs.services.values()].filter((o) => ['running', 'starting', 'waking', 'stopping', 'unknown'].includes(o.state)).map((o) => o.name);
}

/** Why the machine is not in `target`, one phrase per service; empty when it is. */
export function unmetIn(config: Config, target: string, obs: Observation): string[] {
  return unmetServices(config, target, obs).map((n) => {
    const o = obs.services.get(n);
    if (!o) return `${n}: not observed`;
    if (o.state === 'unknown') return `${n} could not be observed${o.detail ? ` (${o.detail})` : ''}`;
    return (config.modes.get(target)?.services.length ?? 0) === 0 ? `${n} is still ${o.state}` : describe(o);
  });
}

function describe(o: ServiceObservation): string {
  if (o.state === 'running') return `${o.name} is running but not healthy${o.detail ? ` (${o.detail})` : ''}`;
  return `${o.name} is ${o.state}${o.sleep ? ` (${o.sleep})` : ''}${o.detail ? `: ${o.detail}` : ''}`;
}

/**
 * The readiness answers still valid: each belongs to the process that gave it (a service started
 * again since, by gpumod or by hand, has no reference until gpumod cold-starts it), plus `fresh` ones
 * taken after this switch's cold starts.
 */
export function currentAnswers(
  recorded: Record<string, RecordedAnswer> | undefined,
  obs: Observation,
  fresh: ReadonlyMap<string, string> = new Map(),
): Record<string, RecordedAnswer> {
  const out: Record<string, RecordedAnswer> = {};
  const pidOf = (name: string): number | undefined => obs.services.get(name)?.unit?.mainPid || undefined;
  for (const [name, a] of Object.entries(recorded ?? {})) if (pidOf(name) === a.pid) out[name] = a;
  for (const [name, answer] of fresh) {
    const pid = pidOf(name);
    if (pid !== undefined) out[name] = { answer, pid };
  }
  return out;
}

/** JSON with every object's keys in order: two states that say the same compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** The state file's form of an observation; of `idle`, the services still observed asleep. */
export function stateOf(obs: Observation, mode: string | undefined, at: number, idle: readonly string[] = []): SwitchState {
  const services: SwitchState['services'] = {};
  for (const o of obs.services.values()) services[o.name] = o.sleep ? { state: o.state, sleep: o.sleep } : { state: o.state };
  const asleep = [...new Set(idle)].filter((n) => obs.services.get(n)?.state === 'sleeping');
  return { mode, at, services, ...(asleep.length ? { idle: asleep } : {}) };
}

/** The switch already happened: a state file that cannot be written must not turn it into a failure. */
async function commitState(ports: EnginePorts, state: SwitchState): Promise<void> {
  try {
    await ports.store.writeState(state);
  } catch (e) {
    ports.log.error(new GpumodError('SWITCH_FAILED', `could not record the state: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
  }
}

async function appendHistory(ports: EnginePorts, record: SwitchRecord): Promise<void> {
  try {
    await ports.store.appendHistory(record);
  } catch (e) {
    ports.log.warn(`could not append to the history: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface RecoverResult {
  mode: string | undefined;
  drift: string[];
  /** The switch that did not finish (a crash, a killed window), if any. */
  interrupted?: SwitchInProgress;
  /** Set when another switch holds the lock: nothing was reconciled. */
  skipped?: string;
}

/** On start-up: reconcile the recorded state with what is observed and clear a dead switch's marker. */
export async function recover(config: Config, ports: EnginePorts, opts: { signal?: AbortSignal; owner?: string } = {}): Promise<RecoverResult> {
  let release: () => Promise<void>;
  try {
    release = await ports.lock.acquire({ command: opts.owner ?? 'gpumod recovery' });
  } catch (e) {
    // Someone is switching right now: their marker is not stale.
    if (isGpumodError(e, 'LOCKED')) return { mode: undefined, drift: [], skipped: e.message };
    throw e;
  }
  try {
    const [state, obs] = await Promise.all([ports.store.readState(), observe(config, ports, opts.signal ?? new AbortController().signal)]);
    const cm = currentMode(config, obs, state?.switching ? undefined : state?.mode, state?.idle);
    const interrupted = state?.switching;
    if (interrupted) {
      ports.log.warn(
        `a switch from ${interrupted.from ?? '(no mode)'} to ${interrupted.to} (pid ${interrupted.pid}) did not finish; the machine is ${cm.mode ? `in ${cm.mode}` : 'in no mode'}`,
      );
    }
    await commitState(ports, { ...stateOf(obs, cm.mode, ports.clock.now(), state?.idle), answers: currentAnswers(state?.answers, obs) });
    return interrupted ? { ...cm, interrupted } : cm;
  } finally {
    await release();
  }
}

/** The actions of the services view that change something (logs and endpoints are the UI's). */
export type ServiceActionName = Exclude<ServiceAction, 'logs' | 'openEndpoint'>;

export interface ServiceActionResult {
  ok: boolean;
  service: string;
  action: ServiceActionName;
  timeline: TimelineEntry[];
  failure?: StepFailure;
  observation: ServiceObservation | undefined;
  mode: string | undefined;
  totalMs: number;
  message: string;
}

/** One service, one action, under the same lock as switches; the mode is re-derived afterwards. */
export async function serviceAction(
  config: Config,
  name: string,
  action: ServiceActionName,
  ports: EnginePorts,
  opts: Omit<SwitchOptions, 'onPlan' | 'orphanPolicy' | 'recordAs'> & { idle?: boolean } = {},
): Promise<ServiceActionResult> {
  const svc = config.services.get(name);
  if (!svc) throw new GpumodError('USAGE', `unknown service "${name}" (services: ${[...config.services.keys()].join(', ')})`);
  const unfollow = ports.gpu.follow?.(WATCH_PERIOD_MS);
  const release = await ports.lock.acquire({ command: opts.owner ?? `gpumod ${action} ${name}` }).catch((e: unknown) => {
    unfollow?.();
    throw e;
  });
  try {
    const signal = opts.signal ?? new AbortController().signal;
    const [obs, prior] = await Promise.all([observe(config, ports, signal), ports.store.readState()]);
    const footprints = await learnFrom(config, obs, ports.store, ports.log);
    const o = obs.services.get(name);
    const state = o?.state ?? 'unknown';
    const caps = ports.drivers(svc).capabilities(svc);
    const own = ownSleepDepth(svc, caps.sleepLevels);
    // A `sleep: l2` service sleeps at L2 anyway: asking for L2 is asking for its own sleep.
    const wanted = action === 'sleepDeep' && own === 'l2' ? 'sleep' : action;
    if (!validActions(state, caps, o?.sleep).includes(wanted)) {
      const why = action.startsWith('sleep') && state === 'running' ? `it cannot sleep${action === 'sleepDeep' ? ' at L2' : ''}` : `it is ${state}`;
      throw new GpumodError('USAGE', `cannot ${action} ${name}: ${why}`);
    }
    if (action === 'wake' || action === 'start' || action === 'restart') {
      // Its port-mates hold the port it needs: starting it could only fail (or take their clients).
      const holder = svc.alternatives.find((a) => !['stopped', 'failed'].includes(obs.services.get(a)?.state ?? 'stopped'));
      if (holder) throw new GpumodError('USAGE', `cannot ${action} ${name}: ${holder} is ${obs.services.get(holder)?.state} on the same ${svc.host}:${svc.port}; stop it first, or switch to a mode with ${name}`);
      if (!opts.force) checkRoom(config, obs, svc, { measured: measuredNow(footprints, config, obs) });
    }

    const startedAt = ports.clock.now();
    const rec: Recorder = { t0: startedAt, timeline: [], onStep: opts.onStep };
    const run: RunAction =
      action === 'sleepDeep' ? 'sleep' : action === 'wake' && (svc.driver === 'llamacpp' || o?.sleep === 'router') ? 'load' : action;
    const depth = wanted === 'sleepDeep' ? 'l2' : wanted === 'sleep' ? own : action === 'wake' ? o?.sleep : undefined;
    // A model of a router that serves others: the action is the model's, not the unit's.
    const shared = routerServiceAction(config, obs, svc, action);
    const runs = shared?.runs ?? [{ action: run, depth }];
    let t = { entry: { result: 'ok' } } as Awaited<ReturnType<typeof timed>>;
    let failure: StepFailure | undefined;
    for (const r of runs) {
      t = await timed(ports, rec, { service: name, action: r.action, phase: 'action', depth: r.depth }, () => runAction(svc, r.action, r.depth, ports, signal, { force: opts.force }));
      failure = t.error !== undefined ? failureOf(t.entry, t.error) : undefined;
      if (failure) break;
    }
    const fresh = new Map<string, string>();
    if (!failure && run !== 'sleep' && run !== 'stop' && svc.readiness) {
      const reference = run === 'wake' || run === 'load' ? currentAnswers(prior?.answers, obs)[name]?.answer : undefined;
      const cold = run === 'start' || run === 'restart';
      failure = await readyChecked(svc, { reference, cold }, ports, rec, signal, fresh);
      if (failure?.code === 'WAKE_CHANGED') {
        // Woken wrong: a cold restart gives the model back; the failure stays reported.
        const r = await timed(ports, rec, { service: name, action: 'restart', phase: 'action' }, () => runAction(svc, 'restart', undefined, ports, signal));
        if (r.error === undefined) await readyChecked(svc, { reference: undefined, cold: true }, ports, rec, signal, fresh);
      }
    }
    const after = await observe(config, ports, new AbortController().signal);
    await learnFrom(config, after, ports.store, ports.log, footprints);
    // Put to sleep for idleness (the gateway), it still counts in its mode; any other action on it ends that.
    const idle = [...(prior?.idle ?? []).filter((n) => n !== name), ...(opts.idle ? [name] : [])];
    const mode = currentMode(config, after, prior?.mode, idle).mode;
    const totalMs = ports.clock.now() - startedAt;
    await commitState(ports, { ...stateOf(after, mode, ports.clock.now(), idle), answers: currentAnswers(prior?.answers, after, fresh) });
    const record: SwitchRecord = {
      kind: 'service',
      from: prior?.mode,
      to: mode,
      service: name,
      startedAt,
      totalMs,
      ok: !failure,
      rolledBack: false,
      cancelled: t.entry.result === 'cancelled',
      steps: rec.timeline,
    };
    if (failure) record.error = failure.error;
    await appendHistory(ports, record);
    const message = failure ? `${action} ${name} failed: ${failure.error}` : `${name}: ${action} done in ${formatMs(totalMs)}${shared ? `: ${shared.note}` : ''}.`;
    return { ok: !failure, service: name, action, timeline: rec.timeline, failure, observation: after.services.get(name), mode, totalMs, message };
  } finally {
    await release();
    unfollow?.();
  }
}

/** The readiness step of a single action: a wake's answer is compared with `reference`; a cold start's is kept in `fresh`. */
async function readyChecked(
  svc: ServiceConfig,
  { reference, cold }: { reference: string | undefined; cold: boolean },
  ports: EnginePorts,
  rec: Recorder,
  signal: AbortSignal,
  fresh: Map<string, string>,
): Promise<StepFailure | undefined> {
  let answer: string | undefined;
  const r = await timed(ports, rec, { service: svc.name, action: 'ready', phase: 'ready' }, async () => {
    answer = await readyAnswer(svc, ports, signal);
    const changed = wakeChanged(svc.name, answer, reference);
    if (changed) throw changed;
  });
  if (r.error !== undefined) return failureOf(r.entry, r.error);
  if (answer !== undefined && cold) fresh.set(svc.name, answer);
  return undefined;
}

/** Waking one service by hand must not push any of its cards over: say so with the numbers (force overrides). */
function checkRoom(config: Config, obs: Observation, svc: ServiceConfig, sizes: Sizes): void {
  for (const g of svc.gpus) {
    const total = gpuTotalMb(config, obs, g);
    if (total === undefined) continue;
    const foreign = obs.foreignMb.get(g) ?? 0;
    const room: Sizes = { ...sizes, wholeCard: () => Math.max(0, total - foreign - config.budget.marginMb) };
    const on = [...config.services.values()].filter((s) => s.gpus.includes(g));
    const used = on.reduce((sum, s) => sum + vramOn(s, g, s.name === svc.name ? AWAKE : fateOf(obs.services.get(s.name)), room), 0);
    const own = vramOn(svc, g, AWAKE, room);
    const needed = used + foreign + config.budget.marginMb;
    if (needed > total) {
      throw new GpumodError(
        'BUDGET',
        `${svc.name} needs ${own} MB awake${svc.gpus.length > 1 ? ` on GPU ${g}` : ''}${sourceOf(svc, AWAKE, room) === 'unknown' ? ' (its size is unknown: no vram_mb, never measured)' : ''}; with the other services (${used - own} MB), other processes (${foreign} MB) and the margin (${config.budget.marginMb} MB) that is ${needed} MB, but GPU ${g} (${card(total)}) has ${total} MB. Sleep or stop something first, or force.`,
      );
    }
  }
}
