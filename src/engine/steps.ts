import type { ServiceConfig } from '../config/types';
import type { DriverContext, SleepDepth } from './driverPort';
import { errorMessage, GpumodError, isGpumodError, type GpumodErrorCode } from '../errors';
import { depthFor } from './budget';
import { cancelledError, withDeadline } from './deadline';
import type { EnginePorts } from './ports';
import type { Phase, PlanStep, StepResult, TimelineAction, TimelineEntry } from './types';

/** Everything a step can do to one service. */
export type RunAction = 'sleep' | 'stop' | 'wake' | 'load' | 'start' | 'restart' | 'ready';

export type StepPorts = Pick<EnginePorts, 'systemd' | 'drivers' | 'http' | 'log' | 'clock'>;

/** What a timeline entry says of its step before it runs. */
export type StepLabel = Pick<TimelineEntry, 'service' | 'action' | 'depth' | 'awaited' | 'estimateMs'> & { phase: Phase };

/** Progress for the UI: a step began, or ended (with its timeline entry). */
export type StepEvent = ({ kind: 'begin' } & StepLabel) | { kind: 'end'; entry: TimelineEntry };

/** A start of a service already starting (a wake of one already waking) only awaits the transition under way. */
export function awaitsUnderWay(s: Pick<PlanStep, 'action' | 'fromState'>): boolean {
  return (s.action === 'start' && s.fromState === 'starting') || (s.action === 'wake' && s.fromState === 'waking');
}

export interface StepFailure {
  service: string;
  action: TimelineAction;
  error: string;
  code?: GpumodErrorCode;
}

/** Collects the timeline of one switch (times relative to its start). */
export interface Recorder {
  t0: number;
  timeline: TimelineEntry[];
  onStep?: (e: StepEvent) => void;
}

/** The configured deadline of each action. */
export function stepTimeoutMs(svc: ServiceConfig, action: RunAction): number {
  switch (action) {
    case 'sleep':
      return svc.sleepTimeoutMs;
    case 'stop':
      return svc.stopTimeoutMs;
    case 'wake':
    case 'load':
    case 'ready':
      return svc.wakeTimeoutMs;
    case 'start':
    case 'restart':
      return svc.startupTimeoutMs;
  }
}

/**
 * One action on one service under its deadline. A start is `systemctl start` then the driver's
 * awaitReady (for a llama.cpp router that includes loading the model); a restart likewise.
 */
export async function runAction(
  svc: ServiceConfig,
  action: RunAction,
  depth: SleepDepth | undefined,
  ports: StepPorts,
  signal: AbortSignal,
  opts: { force?: boolean } = {},
): Promise<void> {
  const timeoutMs = stepTimeoutMs(svc, action);
  const deadlineAt = ports.clock.now() + timeoutMs;
  const driver = ports.drivers(svc);
  await withDeadline(ports.clock, timeoutMs, signal, `${action} ${svc.name}`, async (s) => {
    const ctx = { http: ports.http, log: ports.log, signal: s };
    switch (action) {
      case 'sleep':
        return driver.sleep(svc, depth ?? depthFor(svc.sleep) ?? 'l1', ctx, { force: opts.force });
      case 'stop':
        return ports.systemd.stop(svc.unit, { signal: s, timeoutMs });
      case 'wake':
      case 'load':
        return driver.wake(svc, ctx, depth);
      case 'ready':
        await driver.readiness(svc, ctx);
        return;
      case 'start':
      case 'restart':
        await forgetFailure(svc, ports, s);
        await (action === 'start' ? ports.systemd.start(svc.unit, { signal: s, timeoutMs }) : ports.systemd.restart(svc.unit, { signal: s, timeoutMs }));
        // What is left of the step's deadline: the driver's wait ends with the step's.
        return awaitReadyWhileAlive(svc, ports, ctx, Math.max(1, deadlineAt - ports.clock.now()));
    }
  });
}

/** The readiness request under the wake deadline; resolves with the model's answer where it gives one. */
export function readyAnswer(svc: ServiceConfig, ports: StepPorts, signal: AbortSignal): Promise<string | undefined> {
  return withDeadline(ports.clock, stepTimeoutMs(svc, 'ready'), signal, `ready ${svc.name}`, (s) =>
    ports.drivers(svc).readiness(svc, { http: ports.http, log: ports.log, signal: s }),
  );
}

/**
 * A unit that failed (and hit its start limit doing so) stays failed: systemd refuses every start until
 * its failure is forgotten. Starting it is what was asked, so the failure is forgotten first.
 */
async function forgetFailure(svc: ServiceConfig, ports: StepPorts, signal: AbortSignal): Promise<void> {
  const u = await ports.systemd.show(svc.unit, { signal, timeoutMs: UNIT_QUERY_MS });
  if (u.activeState !== 'failed') return;
  ports.log.info(`${svc.unit} is failed (${u.result || 'no result'}): reset-failed before starting it`);
  await ports.systemd.resetFailed(svc.unit, { signal, timeoutMs: UNIT_QUERY_MS });
}

/** A `systemctl show` or `reset-failed` answers in milliseconds; this bounds a wedged manager. */
const UNIT_QUERY_MS = 5000;

/** How often a start looks at the unit while the driver waits for the server. */
const UNIT_WATCH_MS = 250;

/**
 * The driver's wait for a cold-started server, cut short when the unit's process is gone: a Type=simple
 * unit whose server exits at once (bad option, crash on start-up) would otherwise be polled for
 * "not listening yet" until the whole start-up deadline (5 min by default), then reported without
 * the exit status.
 */
async function awaitReadyWhileAlive(svc: ServiceConfig, ports: StepPorts, ctx: DriverContext, deadlineMs: number): Promise<void> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const watch = async (): Promise<never> => {
    for (;;) {
      await ports.clock.sleep(UNIT_WATCH_MS, stop.signal);
      const u = await ports.systemd.show(svc.unit, { signal: stop.signal, timeoutMs: UNIT_QUERY_MS }).catch(() => undefined);
      if (stop.signal.aborted) throw cancelledError(`watch ${svc.unit}`);
      if (u && (u.activeState === 'failed' || u.activeState === 'inactive')) {
        const how = u.execMainStatus ? `${u.result}, exit status ${u.execMainStatus}` : u.result || u.activeState;
        throw new GpumodError('PROCESS_FAILED', `${svc.unit} exited during start-up (${how}); see gpumod logs ${svc.name}`);
      }
    }
  };
  const watcher = watch();
  watcher.catch(() => undefined); // settles after the race when the server came up first
  try {
    await Promise.race([ports.drivers(svc).awaitReady(svc, { ...ctx, signal: stop.signal }, deadlineMs), watcher]);
  } finally {
    stop.abort();
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

export interface Timed {
  entry: TimelineEntry;
  error?: unknown;
}

/**
 * Thrown by a step that did not do its work for a reason that is no failure (nothing to measure,
 * a bounded wait that ran out): recorded as `skipped` or `timeout` with the reason, and not a warning
 * when skipped.
 */
export class StepNote extends Error {
  constructor(
    readonly result: 'skipped' | 'timeout',
    detail: string,
  ) {
    super(detail || result);
  }
}

/** Runs `fn`, records a timeline entry and logs it; never throws. A StepNote is returned as no error. */
export async function timed(
  ports: Pick<EnginePorts, 'clock' | 'log'>,
  rec: Recorder,
  what: StepLabel,
  fn: () => Promise<void>,
): Promise<Timed> {
  const start = ports.clock.now();
  rec.onStep?.({ kind: 'begin', ...what });
  let result: StepResult = 'ok';
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
    result = e instanceof StepNote ? e.result : isGpumodError(e, 'CANCELLED') ? 'cancelled' : isGpumodError(e, 'DEADLINE') ? 'timeout' : 'failed';
  }
  const entry: TimelineEntry = { ...what, startMs: start - rec.t0, ms: ports.clock.now() - start, result };
  if (error !== undefined) entry.error = errorMessage(error);
  if (entry.depth === undefined) delete entry.depth;
  if (entry.estimateMs === undefined) delete entry.estimateMs;
  rec.timeline.push(entry);
  const line = `${what.action} ${what.service}${what.depth ? ` (${what.depth})` : ''}: ${result}${entry.error ? `: ${entry.error}` : ''} [${entry.ms}ms]`;
  if (result === 'ok' || result === 'skipped') ports.log.info(line);
  else ports.log.warn(line);
  rec.onStep?.({ kind: 'end', entry });
  return { entry, error: error instanceof StepNote ? undefined : error };
}

export function failureOf(entry: TimelineEntry, error: unknown): StepFailure {
  const f: StepFailure = { service: entry.service, action: entry.action, error: errorMessage(error) };
  if (isGpumodError(error)) f.code = error.code;
  return f;
}
