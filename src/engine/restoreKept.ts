import type { Config, ServiceConfig } from '../config/types';
import { observeService } from './observe';
import type { EnginePorts } from './ports';
import { isIdle } from './routers';
import { failureOf, runAction, timed, type Recorder, type RunAction, type StepFailure } from './steps';
import type { Plan } from './types';

/**
 * Runs `fn` over `items`: in parallel, except that the models of one llama.cpp router go one after
 * another (parallel loads make a router at --models-max force-kill the load still under way).
 */
export async function inSeriesPerRouter<T>(config: Config, items: T[], serviceOf: (item: T) => string, fn: (item: T) => Promise<unknown>): Promise<void> {
  const lanes = new Map<string, T[]>();
  items.forEach((item, i) => {
    const svc: ServiceConfig | undefined = config.services.get(serviceOf(item));
    const lane = svc?.driver === 'llamacpp' ? `router:${svc.unit}` : `item:${i}`;
    lanes.set(lane, [...(lanes.get(lane) ?? []), item]);
  });
  await Promise.all(
    [...lanes.values()].map(async (lane) => {
      for (const item of lane) await fn(item);
    }),
  );
}

/**
 * After a rollback: a service the plan meant to keep serving that the switch lost (its router evicted
 * it at --models-max, its process crashed, its router was stopped) is brought back. Never throws.
 */
export async function restoreKept(plan: Plan, config: Config, ports: EnginePorts, rec: Recorder): Promise<StepFailure[]> {
  const kept = plan.steps.filter((s) => s.action === 'keep' && (s.fromState === 'running' || (s.fromState === 'sleeping' && s.fromSleep === 'idle')));
  const signal = new AbortController().signal;
  const failures: StepFailure[] = [];
  await inSeriesPerRouter(config, kept, (s) => s.service, async (s) => {
    const svc = config.services.get(s.service);
    if (!svc) return;
    const o = await observeService(svc, ports, signal);
    if (o.state === 'running' || isIdle(o)) return;
    const action: RunAction = svc.driver === 'llamacpp' && o.unit?.activeState === 'active' ? 'load' : 'start';
    ports.log.warn(`${svc.name} was kept by the plan but is ${o.state} now: ${action === 'load' ? 'loads its model again' : 'starts again'}`);
    const t = await timed(ports, rec, { service: svc.name, action, phase: 'rollback' }, () => runAction(svc, action, undefined, ports, signal, { force: true }));
    if (t.error !== undefined) failures.push(failureOf(t.entry, t.error));
  });
  return failures;
}
