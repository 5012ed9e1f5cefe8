import type { ServiceConfig } from '../config/types';
import type { SleepDepth } from './driverPort';
import { MAX_RECORDED_MS } from './records';
import type { StepAction, SwitchRecord, TimelineAction, TimelineEntry } from './types';

export type EstimateAction = StepAction | 'ready' | 'restart';

/** Expected step durations: measured on this machine when history has them, else profile-like defaults. */
export interface Estimates {
  ms(svc: ServiceConfig, action: EstimateAction, depth?: SleepDepth): number;
}

/** How many recent runs of a (service, action) the median looks at. */
export const DEFAULT_LAST_N = 5;

/**
 * Defaults from measured figures (profile.md, vLLM's sleep-mode numbers). startupTimeoutMs is a
 * deadline, not an estimate: a 300 s timeout says nothing about a 60 s cold start.
 */
export function defaultEstimateMs(svc: ServiceConfig, action: EstimateAction, depth?: SleepDepth): number {
  switch (action) {
    case 'keep':
      return 0;
    case 'sleep':
      return 300;
    case 'stop':
      return 1000;
    case 'ready':
      return svc.readiness ? 300 : 0;
    case 'restart':
      return defaultEstimateMs(svc, 'stop') + defaultEstimateMs(svc, 'start');
    case 'start':
      return { vllm: 60_000, llamacpp: 20_000, http: 20_000, systemd: 5_000 }[svc.driver];
    case 'wake':
    case 'load':
      if (svc.driver === 'llamacpp') return 20_000;
      if (svc.driver === 'http') return 2_000;
      return (depth ?? svc.sleep) === 'l2' ? 1_500 : 500;
  }
}

/** The median of the last `lastN` successful runs per (service, action, depth of a sleep or wake), else the default. */
export function estimates(history: SwitchRecord[], lastN: number = DEFAULT_LAST_N): Estimates {
  const samples = new Map<string, number[]>();
  const ordered = [...history].sort((a, b) => a.startedAt - b.startedAt);
  for (const rec of ordered) {
    for (const e of rec.steps) {
      // A rolled-back step did finish; its duration is still a measurement. Rollback steps are not.
      if ((e.result !== 'ok' && e.result !== 'rolled-back') || e.phase === 'rollback') continue;
      // Joined a start or wake already under way: its time is the rest of someone else's, no measure of one.
      if (e.awaited) continue;
      if (!isEstimated(e.action)) continue;
      // A hand-edited or foreign record (1e308 ms, NaN) must not become a plan's estimate.
      if (!(e.ms >= 0 && e.ms <= MAX_RECORDED_MS)) continue;
      const k = key(e.service, e.action, e.depth);
      const list = samples.get(k) ?? [];
      list.push(e.ms);
      samples.set(k, list);
    }
  }
  return {
    ms(svc, action, depth) {
      const list = samples.get(key(svc.name, action, depthKey(action, depth)));
      return list && list.length > 0 ? median(list.slice(-lastN)) : defaultEstimateMs(svc, action, depth);
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : Math.round((s[mid - 1] + s[mid]) / 2);
}

function isEstimated(a: TimelineAction): a is EstimateAction {
  return a !== 'verify' && a !== 'wait-free';
}

/**
 * Sleeps and wakes differ by depth (an L1 sleep copies the weights to RAM, an L2 one drops them; an L1
 * wake takes 0.3 s, an L2 one 1.5 s); the depth of other actions does not change their cost.
 */
function depthKey(action: EstimateAction, depth: SleepDepth | undefined): SleepDepth | undefined {
  return action === 'wake' || action === 'sleep' ? depth : undefined;
}

function key(service: string, action: string, depth: SleepDepth | undefined): string {
  return `${service}\u0000${action}\u0000${depthKey(action as EstimateAction, depth) ?? ''}`;
}

/**
 * When the incoming models first answered, relative to the switch's start: the end of the last
 * readiness request (a deterministic completion: the time to a first token), and whose they were.
 * undefined where no readiness request ran, so nothing says a model answered.
 */
export function firstAnswer(timeline: readonly TimelineEntry[]): { ms: number; services: string[] } | undefined {
  const ready = timeline.filter((e) => e.action === 'ready' && e.result === 'ok' && e.phase !== 'rollback');
  if (ready.length === 0) return undefined;
  return { ms: Math.max(...ready.map((e) => e.startMs + e.ms)), services: [...new Set(ready.map((e) => e.service))] };
}
