import type { ServiceConfig } from '../config/types';
import { GpumodError } from '../errors';
import { awaitHealth, call, excerpt, expectOk, healthy, jsonBody, parseServerJson, pollUntil, PROBE_TIMEOUT_MS, probeFailure, runReadiness } from './common';
import type { Driver, DriverCapabilities, DriverContext, Probe } from '../engine/driverPort';

/**
 * llama.cpp `llama-server` in router mode: one router process, one child per loaded model.
 * POST /models/load and /models/unload answer at once and work in the background, so a wake is a
 * load **polled until `loaded`** (or `failed`), and a sleep an unload polled until `unloaded`.
 * The router's /health says nothing about models: GET /models is the probe.
 */

export interface RouterModelStatus {
  value: string; // unloaded | loading | loaded | sleeping | downloading | downloaded
  failed?: boolean;
  exitCode?: number;
}

/** The status of `model` in a GET /models body; undefined when the router does not offer it. */
export function modelStatus(body: unknown, model: string): RouterModelStatus | undefined {
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) throw new Error('no "data" list');
  const entry = data.find((m) => (m as { id?: unknown })?.id === model) as { status?: { value?: unknown; failed?: unknown; exit_code?: unknown } } | undefined;
  if (!entry) return undefined;
  const s = entry.status;
  if (typeof s?.value !== 'string') throw new Error(`model ${model} has no status.value`);
  return { value: s.value, failed: s.failed === true, exitCode: Number.isSafeInteger(s.exit_code) ? (s.exit_code as number) : undefined };
}

const LISTED = 20;

/** How a model whose child exited unasked reads (the router says only `failed` and an exit code). */
export const ENDED = "the model's process ended";

/** The model ids of a GET /models `data` list, for a message: string ids only, the first few, then a count. */
export function offeredModels(data: readonly unknown[]): string {
  const ids: string[] = [];
  for (const m of data) {
    if (ids.length === LISTED) return `${ids.join(', ')} and ${data.length - LISTED} more`;
    const id = (m as { id?: unknown } | null)?.id;
    ids.push(typeof id === 'string' ? JSON.stringify(id.slice(0, 100)).slice(1, -1) : '?');
  }
  return ids.join(', ');
}

function modelOf(svc: ServiceConfig): string {
  if (!svc.model) throw new GpumodError('USAGE', `${svc.name}: a llamacpp service needs "model"`);
  return svc.model;
}

async function status(svc: ServiceConfig, ctx: DriverContext): Promise<RouterModelStatus> {
  const res = expectOk(svc, 'GET /models', await call(svc, ctx, 'GET', '/models', PROBE_TIMEOUT_MS));
  const body = jsonBody(svc, 'GET /models', res);
  let st: RouterModelStatus | undefined;
  try {
    st = modelStatus(body, modelOf(svc));
  } catch (e) {
    throw new GpumodError('HTTP_BAD_RESPONSE', `${svc.name}: GET /models is not in the router's shape (${(e as Error).message}): ${excerpt(res.body)}`);
  }
  if (!st) {
    throw new GpumodError('LOAD_FAILED', `${svc.name}: the router does not offer model "${svc.model}" (it has: ${offeredModels((body as { data: unknown[] }).data) || 'none'})`);
  }
  return st;
}

function errorMessageOf(body: string): string {
  try {
    const m = (parseServerJson(body) as { error?: { message?: unknown } } | null)?.error?.message;
    return typeof m === 'string' ? m : '';
  } catch {
    return '';
  }
}

function describe(st: RouterModelStatus): string {
  return st.failed ? `${st.value}, failed (exit ${st.exitCode ?? '?'})` : st.value;
}

/** The router's `--models-max` from GET /props (`max_instances`; 0 = unlimited); undefined when it does not say. */
async function modelsMaxOf(svc: ServiceConfig, ctx: DriverContext): Promise<number | undefined> {
  try {
    const res = await call(svc, ctx, 'GET', '/props', PROBE_TIMEOUT_MS);
    if (res.status !== 200) return undefined;
    const n = (parseServerJson(res.body) as { max_instances?: unknown } | null)?.max_instances;
    return Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a load ended with the model unloaded and failed: the router force-kills a load still under way
 * when another model's load reaches --models-max; that is not a failure of the model.
 */
async function loadEndedWhy(svc: ServiceConfig, ctx: DriverContext, st: RouterModelStatus): Promise<string> {
  const max = await modelsMaxOf(svc, ctx);
  const res = await call(svc, ctx, 'GET', '/models', PROBE_TIMEOUT_MS).catch(() => undefined);
  const data = res?.status === 200 ? ((parseServerJsonSafe(res.body) as { data?: unknown })?.data ?? []) : [];
  const others = (Array.isArray(data) ? data : [])
    .map((m) => m as { id?: unknown; status?: { value?: unknown } })
    .filter((m) => m.id !== svc.model && typeof m.status?.value === 'string' && m.status.value !== 'unloaded')
    .map((m) => String(m.id));
  if (max !== undefined && max > 0 && others.length >= max) {
    return `${svc.name}: the router ended the load of ${svc.model} to make room for ${others.join(', ')} (--models-max ${max}): the model did not fail, the router had no room for it`;
  }
  return `${svc.name}: the router failed to load ${svc.model} (exit code ${st.exitCode ?? 'unknown'}); see its journal`;
}

function parseServerJsonSafe(body: string): unknown {
  try {
    return parseServerJson(body);
  } catch {
    return undefined;
  }
}

async function awaitLoaded(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void> {
  await pollUntil(ctx, `${svc.name}: loading ${svc.model}`, deadlineMs, async (look) => {
    const st = await status(svc, look);
    if (st.value === 'loaded') return { done: true, value: undefined };
    if (st.value === 'unloaded' && st.failed) throw new GpumodError('LOAD_FAILED', await loadEndedWhy(svc, ctx, st));
    return { done: false, seen: describe(st) };
  });
}

async function load(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void> {
  const model = modelOf(svc);
  const before = await status(svc, ctx);
  if (before.value === 'loaded') return;
  if (before.value === 'sleeping') {
    // Idle-sleep (--sleep-idle-seconds): the child is alive but freed the model; any task reloads it.
    const res = await call(svc, ctx, 'POST', '/completion', deadlineMs, { model, prompt: '', n_predict: 1 });
    expectOk(svc, 'POST /completion (wake from idle sleep)', res);
  } else if (before.value !== 'loading') {
    const res = await call(svc, ctx, 'POST', '/models/load', PROBE_TIMEOUT_MS, { model });
    // 400 "model is already running": a load raced ours; polling tells how it ends.
    if (!(res.status === 400 && /already (running|loaded)/.test(errorMessageOf(res.body)))) {
      if (res.status === 404) throw new GpumodError('LOAD_FAILED', `${svc.name}: the router has no model "${model}" (404 ${errorMessageOf(res.body) || excerpt(res.body)})`);
      expectOk(svc, 'POST /models/load', res);
    }
  }
  await awaitLoaded(svc, ctx, deadlineMs);
}

export const llamacppDriver: Driver = {
  kind: 'llamacpp',

  capabilities(svc: ServiceConfig): DriverCapabilities {
    const can = svc.sleep === 'router';
    return { sleepLevels: can ? ['router'] : [], canWake: can, canDrain: false };
  },

  async probe(svc: ServiceConfig, ctx: DriverContext): Promise<Probe> {
    // All three side by side: a look costs one round trip.
    const rest = Promise.all([healthy(svc, ctx), modelsMaxOf(svc, ctx)]);
    let st: RouterModelStatus;
    try {
      st = await status(svc, ctx);
    } catch (e) {
      rest.catch(() => undefined);
      return probeFailure(e);
    }
    const [ok, modelsMax] = await rest;
    const max = modelsMax === undefined ? {} : { modelsMax };
    switch (st.value) {
      case 'loaded':
        return { state: 'awake', healthy: ok, ...max };
      case 'loading':
      case 'downloading':
      case 'downloaded':
        return { state: 'loading', healthy: ok, detail: `model ${st.value}`, ...max };
      case 'sleeping':
        // The router's idle sleep: the child lives on and holds memory; any request reloads the model.
        return { state: 'asleep', sleep: 'idle', healthy: ok, detail: 'idle (--sleep-idle-seconds): its process still holds memory', ...max };
      case 'unloaded':
        return st.failed
          ? { state: 'failed', healthy: ok, detail: `${ENDED} (exit code ${st.exitCode ?? 'unknown'}): its load failed, or it was killed`, ...max }
          : { state: 'asleep', sleep: 'router', healthy: ok, ...max };
      default:
        return { state: 'error', healthy: ok, detail: `unknown model status "${st.value}"`, ...max };
    }
  },

  async sleep(svc: ServiceConfig, _depth, ctx: DriverContext): Promise<void> {
    const model = modelOf(svc);
    const res = await call(svc, ctx, 'POST', '/models/unload', PROBE_TIMEOUT_MS, { model });
    const msg = errorMessageOf(res.body);
    if (res.status === 400 && /not (running|loaded)/.test(msg)) return; // already unloaded
    if (res.status === 400 && /not found/.test(msg)) throw new GpumodError('LOAD_FAILED', `${svc.name}: the router has no model "${model}"`);
    expectOk(svc, 'POST /models/unload', res);
    await pollUntil(ctx, `${svc.name}: unloading ${model}`, svc.sleepTimeoutMs, async (look) => {
      const st = await status(svc, look);
      return st.value === 'unloaded' ? { done: true, value: undefined } : { done: false, seen: describe(st) };
    });
  },

  async wake(svc: ServiceConfig, ctx: DriverContext): Promise<void> {
    await load(svc, ctx, svc.wakeTimeoutMs);
  },

  async awaitReady(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void> {
    const start = Date.now();
    await awaitHealth(svc, ctx, deadlineMs);
    // A cold-started router has no model loaded (--no-models-autoload): loading it is part of starting.
    await load(svc, ctx, Math.max(1, deadlineMs - (Date.now() - start)));
  },

  readiness: runReadiness,
};
