import type { Config, ModeConfig } from '../config/types';
import { plan, type PlanOptions } from './planner';
import { HOLDS_VRAM } from './rollback';
import type { Observation, Plan } from './types';

/** What the gateway knows that the engine does not: which services serve requests now, and when each last did. */
export interface Demand {
  /** Services with a request in flight: never put to sleep or stopped to make room. */
  busy: ReadonlySet<string>;
  /** When each service last had a request through the gateway (ms); the least recent gives way first. */
  lastUsed: ReadonlyMap<string, number>;
}

export type OnDemand =
  | { ok: true; mode: ModeConfig; plan: Plan; config: Config }
  | { ok: false; reason: string };

/** The synthetic mode a request's wake switches to, named for the history ("gateway: vllm-chat"). */
export function demandModeName(service: string): string {
  return `gateway: ${service}`;
}

/**
 * The smallest switch that makes `service` awake for a request that names it: everything awake stays
 * awake, unless memory is short; then the services with no request in flight give way, least recently
 * used first, each at its usual fate (sleep at its depth, or stop where it cannot sleep). A plan that
 * would sleep or stop a busy service is never returned. Pure: the caller runs the plan (under the lock).
 */
export function planOnDemand(config: Config, obs: Observation, service: string, demand: Demand, opts: PlanOptions = {}): OnDemand {
  const svc = config.services.get(service);
  if (!svc) return { ok: false, reason: `no service "${service}"` };
  const awake = [...config.services.keys()].filter((n) => n !== service && HOLDS_VRAM.includes(obs.services.get(n)?.state ?? 'unknown'));
  // Idle services in the order they give way: never used through the gateway first, then least recent.
  const idle = awake.filter((n) => !demand.busy.has(n)).sort((a, b) => (demand.lastUsed.get(a) ?? -Infinity) - (demand.lastUsed.get(b) ?? -Infinity));
  let last: Plan | undefined;
  for (let give = 0; give <= idle.length; give++) {
    const out = new Set(idle.slice(0, give));
    const mode: ModeConfig = { name: demandModeName(service), services: [...awake.filter((n) => !out.has(n)), service], description: `woken by a request for ${service}` };
    const withMode: Config = { ...config, modes: new Map([...config.modes, [mode.name, mode]]) };
    const p = plan(withMode, obs, mode.name, opts);
    last = p;
    if (p.refused) continue;
    const hurts = p.steps.find((s) => (s.action === 'sleep' || s.action === 'stop') && demand.busy.has(s.service));
    if (hurts) continue;
    return { ok: true, mode, plan: p, config: withMode };
  }
  const busy = [...demand.busy].filter((n) => n !== service);
  const why = last?.refused?.reason ?? 'the room it needs is held by services with requests in flight';
  return { ok: false, reason: `${service} cannot be woken now: ${why}${busy.length ? ` (serving requests: ${busy.join(', ')})` : ''}` };
}
