// A switch for a request (the gateway): the lock first, then one look, the smallest plan from that look
// (engine/onDemand.ts), and the switch carried out from the same look. Deciding under the lock means
// nothing changes between the look and the plan, and the switch does not look a second time.
import type { Config, ServiceConfig } from '../config/types';
import { measuredNow } from './footprints';
import { learnFrom } from './learn';
import { planOnDemand, type Demand } from './onDemand';
import type { EnginePorts } from './ports';
import { switchLook, switchUnderLock, type SwitchOptions, type SwitchResult } from './switcher';
import type { Observation, Plan } from './types';
import { WATCH_PERIOD_MS } from './waitFree';

export type OnDemandOutcome =
  /** It was awake and healthy already: nothing was done. */
  | { kind: 'awake'; observation: Observation }
  | { kind: 'switched'; result: SwitchResult; observation: Observation }
  /** The room it needs is held by services with requests in flight: `taken` would give way once they end. */
  | { kind: 'wait'; reason: string; taken: string[]; observation: Observation }
  | { kind: 'refused'; reason: string; observation: Observation };

export interface OnDemandOptions extends Omit<SwitchOptions, 'onPlan'> {
  /** Read at the moment of planning: what serves requests now. */
  demand: () => Demand;
  /** Called with the plan as soon as it is made (before any await): the caller stops new requests to what it puts away. */
  onPlanned?: (plan: Plan) => void;
}

/** The services a plan puts to sleep or stops. */
export function takenBy(plan: Plan): string[] {
  return plan.steps.filter((s) => s.action === 'sleep' || s.action === 'stop').map((s) => s.service);
}

/** Makes `service` awake for a request, under the machine lock (LOCKED is thrown as by switchMode). */
export async function switchOnDemand(config: Config, service: ServiceConfig, ports: EnginePorts, opts: OnDemandOptions): Promise<OnDemandOutcome> {
  const signal = opts.signal ?? new AbortController().signal;
  const unfollow = ports.gpu.follow?.(WATCH_PERIOD_MS);
  try {
    const release = await ports.lock.acquire({ command: opts.owner ?? `gpumod: a request for ${service.name}` });
    try {
      const startedAt = ports.clock.now();
      const seen = await switchLook(config, ports, signal);
      const o = seen.services.get(service.name);
      if (o?.state === 'running' && o.healthy) return { kind: 'awake', observation: seen };
      // Written in the background: the switch's own commit waits for its later write.
      const footprints = await learnFrom(config, seen, ports.store, ports.log, undefined, true);
      const planOpts = { measured: measuredNow(footprints, config, seen), capabilities: (s: ServiceConfig) => ports.drivers(s).capabilities(s) };
      const demand = opts.demand();
      const busy = new Set([...demand.busy].filter((n) => n !== service.name));
      const od = planOnDemand(config, seen, service.name, { ...demand, busy }, planOpts);
      if (!od.ok) {
        // Would it fit once the requests in flight end? Then it is worth waiting for them.
        const once = planOnDemand(config, seen, service.name, { busy: new Set(), lastUsed: demand.lastUsed }, planOpts);
        return once.ok ? { kind: 'wait', reason: od.reason, taken: takenBy(once.plan), observation: seen } : { kind: 'refused', reason: od.reason, observation: seen };
      }
      opts.onPlanned?.(od.plan);
      const result = await switchUnderLock(od.config, od.mode.name, ports, opts, { seen, startedAt });
      return { kind: 'switched', result, observation: seen };
    } finally {
      await release();
    }
  } finally {
    unfollow?.();
  }
}
