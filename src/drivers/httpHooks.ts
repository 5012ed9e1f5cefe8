import type { HookRequest, ServiceConfig } from '../config/types';
import { GpumodError } from '../errors';
import { redactUrl } from '../system/redact';
import { awaitHealth, call, excerpt, expectOk, healthProbe, healthy, jsonBody, pollUntil, PROBE_TIMEOUT_MS, probeFailure, runReadiness } from './common';
import type { Driver, DriverCapabilities, DriverContext, Probe, ProbeState } from '../engine/driverPort';

/**
 * Small apps (FastAPI-style) that load their model lazily and expose their own requests for it,
 * e.g. `POST /unload`, `POST /load`, `GET /status`. The probe's JSON tells the state through
 * `loaded` (bool), `sleeping` (bool) or `state` (loaded | unloaded | loading | sleeping | awake).
 */

// A Map, not an object literal: a server answering {"state":"constructor"} must not read Object.prototype.
const HOOK_STATES: ReadonlyMap<string, ProbeState> = new Map([
  ['loaded', 'awake'], ['awake', 'awake'], ['ready', 'awake'],
  ['unloaded', 'asleep'], ['sleeping', 'asleep'], ['asleep', 'asleep'],
  ['loading', 'loading'], ['unloading', 'loading'], ['failed', 'failed'],
]);

export function hookState(body: unknown): ProbeState | undefined {
  const b = body as { loaded?: unknown; sleeping?: unknown; state?: unknown } | null;
  if (typeof b?.state === 'string') {
    const st = HOOK_STATES.get(b.state);
    if (st) return st;
  }
  if (typeof b?.loaded === 'boolean') return b.loaded ? 'awake' : 'asleep';
  if (typeof b?.sleeping === 'boolean') return b.sleeping ? 'asleep' : 'awake';
  return undefined;
}

function hooksOf(svc: ServiceConfig): NonNullable<ServiceConfig['hooks']> {
  if (!svc.hooks) throw new GpumodError('USAGE', `${svc.name}: no sleep hooks configured`);
  return svc.hooks;
}

async function probeState(svc: ServiceConfig, ctx: DriverContext): Promise<ProbeState> {
  const h = hooksOf(svc).probe;
  const what = `${h.method} ${redactUrl(h.path)}`;
  const res = expectOk(svc, what, await call(svc, ctx, h.method, h.path, PROBE_TIMEOUT_MS));
  const st = hookState(jsonBody(svc, what, res));
  if (!st) throw new GpumodError('HTTP_BAD_RESPONSE', `${svc.name}: ${what} tells no state (expected "loaded", "sleeping" or "state"): ${excerpt(res.body)}`);
  return st;
}

async function hookThenAwait(svc: ServiceConfig, ctx: DriverContext, hook: HookRequest, want: ProbeState, deadlineMs: number): Promise<void> {
  const what = `${hook.method} ${redactUrl(hook.path)}`;
  expectOk(svc, what, await call(svc, ctx, hook.method, hook.path, deadlineMs));
  await pollUntil(ctx, `${svc.name}: after ${what}`, deadlineMs, async (look) => {
    const st = await probeState(svc, look);
    if (st === want) return { done: true, value: undefined };
    if (st === 'failed') throw new GpumodError('LOAD_FAILED', `${svc.name}: reports a failed load after ${what}`);
    return { done: false, seen: st };
  });
}

export const httpHooksDriver: Driver = {
  kind: 'http',

  capabilities(svc: ServiceConfig): DriverCapabilities {
    const can = svc.hooks !== undefined;
    return { sleepLevels: can ? ['hook'] : [], canWake: can, canDrain: false };
  },

  async probe(svc: ServiceConfig, ctx: DriverContext): Promise<Probe> {
    if (!svc.hooks) return healthProbe(svc, ctx);
    const health = healthy(svc, ctx); // beside the state: one round trip
    let st: ProbeState;
    try {
      st = await probeState(svc, ctx);
    } catch (e) {
      health.catch(() => undefined);
      return probeFailure(e);
    }
    const ok = await health;
    return st === 'asleep' ? { state: 'asleep', sleep: 'hook', healthy: ok } : { state: st, healthy: ok };
  },

  async sleep(svc: ServiceConfig, _depth, ctx: DriverContext): Promise<void> {
    await hookThenAwait(svc, ctx, hooksOf(svc).sleep, 'asleep', svc.sleepTimeoutMs);
  },

  async wake(svc: ServiceConfig, ctx: DriverContext): Promise<void> {
    await hookThenAwait(svc, ctx, hooksOf(svc).wake, 'awake', svc.wakeTimeoutMs);
  },

  async awaitReady(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void> {
    const start = Date.now();
    await awaitHealth(svc, ctx, deadlineMs);
    // A lazy app starts with its model unloaded: loading it is part of starting.
    if (svc.hooks && (await probeState(svc, ctx)) !== 'awake') {
      await hookThenAwait(svc, ctx, svc.hooks.wake, 'awake', Math.max(1, deadlineMs - (Date.now() - start)));
    }
  },

  readiness: runReadiness,
};
