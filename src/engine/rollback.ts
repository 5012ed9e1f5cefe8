import type { Config, ServiceConfig } from '../config/types';
import type { SleepDepth } from './driverPort';
import { depthFor } from './budget';
import { defaultEstimateMs } from './history';
import type { EnginePorts } from './ports';
import { failureOf, runAction, timed, type Recorder, type RunAction, type StepFailure } from './steps';
import type { PlanStep, ServiceState, TimelineEntry } from './types';
import { routerMates } from './routers';
import { snapshotOrUnavailable, waitBoundMs, waitForFreedMemory, type Released } from './waitFree';

/** A plan step that was launched, and how it ended. */
export interface Performed {
  step: PlanStep;
  entry?: TimelineEntry;
  outcome: 'running' | 'ok' | 'failed' | 'cancelled';
}

interface Undo {
  svc: ServiceConfig;
  action: RunAction;
  depth?: SleepDepth;
  of: Performed;
}

/** States in which a service's process holds its full VRAM. */
export const HOLDS_VRAM: ServiceState[] = ['running', 'starting', 'waking'];

/**
 * What puts a service back in the state the switch OBSERVED it in (not the inverse of the step): an
 * awake one runs, a sleeper sleeps at its depth, a stopped or failed one is stopped. A sleeper that
 * was stopped to make room is not cold-started again just to sleep: that would cost a cold start to
 * rebuild a residue, so rollback restores what served.
 */
export function undoOf(svc: ServiceConfig, step: PlanStep): { action: RunAction; depth?: SleepDepth } | undefined {
  if (step.action === 'keep') return undefined;
  const was = step.fromState;
  const awake = HOLDS_VRAM.includes(was);
  const wake: RunAction = step.depth === 'router' || step.fromSleep === 'router' || svc.driver === 'llamacpp' ? 'load' : 'wake';
  switch (step.action) {
    case 'wake':
    case 'load':
    case 'start':
      if (awake) return undefined; // it was up before: up is where it belongs
      if (was === 'sleeping') return { action: 'sleep', depth: step.fromSleep ?? depthFor(svc.sleep) ?? 'l1' };
      return { action: 'stop' };
    case 'sleep':
      return awake ? { action: wake } : undefined;
    case 'stop':
      return awake ? { action: 'start' } : undefined;
  }
}

/**
 * Undoes every launched step (finished, failed or cut short): incoming services go back to sleep (or
 * stop) first, then, once the GPU shows the memory back, outgoing ones are woken (or started). It runs
 * on its own signal: the cancellation that led here must not also stop the way back. Never throws.
 */
export async function rollBack(
  performed: Performed[],
  config: Config,
  ports: EnginePorts,
  rec: Recorder,
): Promise<StepFailure[]> {
  const undos: Undo[] = [];
  for (const p of performed) {
    const svc = config.services.get(p.step.service);
    const u = svc && undoOf(svc, p.step);
    if (svc && u) undos.push({ svc, ...u, of: p });
  }
  const signal = new AbortController().signal;
  const failures: StepFailure[] = [];
  const run = async (u: Undo): Promise<void> => {
    // An outgoing service that died during its sleep (a crash) has nothing left to wake: start it again.
    if ((u.action === 'wake' || u.action === 'load') && (await processGone(u.svc, ports))) u.action = 'start';
    // A sleeper that died while being woken is started again and put back to sleep: it was asleep.
    if (u.action === 'sleep' && (await processGone(u.svc, ports))) {
      const t = await timed(ports, rec, { service: u.svc.name, action: 'start', phase: 'rollback' }, () => runAction(u.svc, 'start', undefined, ports, signal));
      if (t.error !== undefined) {
        failures.push(failureOf(t.entry, t.error));
        return;
      }
    }
    // Forced: requests in flight on a service that was just woken are the switch's own, if any.
    const t = await timed(ports, rec, { service: u.svc.name, action: u.action, phase: 'rollback', depth: u.depth }, () =>
      runAction(u.svc, u.action, u.depth, ports, signal, { force: true }),
    );
    if (t.error !== undefined) failures.push(failureOf(t.entry, t.error));
    else if (u.of.outcome === 'ok' && u.of.entry) u.of.entry.result = 'rolled-back';
  };
  const release = undos.filter((u) => u.action === 'sleep' || u.action === 'stop');
  const acquire = undos.filter((u) => u.action !== 'sleep' && u.action !== 'stop');
  if (undos.length > 0) ports.log.warn(`rolling back ${undos.length} step(s)`);
  const baseline = release.length > 0 && acquire.length > 0 ? await snapshotOrUnavailable(ports, signal) : undefined;
  await Promise.all(release.map(run));
  if (baseline) {
    const released: Released[] = release.map((u) => ({
      svc: u.svc,
      action: u.action as 'sleep' | 'stop',
      wasAwake: u.of.outcome === 'ok' || u.of.step.action === 'start',
      mates: routerMates(config, u.svc),
    }));
    const bound = waitBoundMs(released, (r) => defaultEstimateMs(r.svc, r.action));
    await waitForFreedMemory(released, baseline, ports, signal, bound);
  }
  await Promise.all(acquire.map(run));
  return failures;
}

/** True when systemd says the unit has no process (failed or inactive); a failed look says false. */
async function processGone(svc: ServiceConfig, ports: EnginePorts): Promise<boolean> {
  try {
    const u = await ports.systemd.show(svc.unit, { timeoutMs: 5000 });
    return u.activeState === 'failed' || u.activeState === 'inactive';
  } catch {
    return false;
  }
}
