// The JSON shapes gpumod reports in: `gpumod status|plan|switch|sleep… --json`, and the results of
// the agents' tools (language-model tools in VS Code, `gpumod mcp`), which say the same things.
import type { Config } from '../config/types';
import { currentMode } from '../engine/currentMode';
import { measuredNow } from '../engine/footprints';
import { heldBy } from '../engine/heldMemory';
import { learnFrom } from '../engine/learn';
import { observe } from '../engine/observe';
import type { EnginePorts } from '../engine/ports';
import { explainEnded } from '../engine/routers';
import type { ServiceActionResult, SwitchResult } from '../engine/switcher';
import type { Observation, Plan, ServiceObservation, SwitchState, TimelineEntry } from '../engine/types';

/** One timeline step as every `--json` output prints it (snake_case, like the rest of the CLI's JSON). */
export function stepJson(e: TimelineEntry): Record<string, unknown> {
  return {
    service: e.service,
    action: e.action,
    phase: e.phase,
    depth: e.depth,
    start_ms: e.startMs,
    ms: e.ms,
    result: e.result,
    error: e.error,
    ...(e.awaited ? { awaited: true } : {}),
  };
}

/** `held` adds, per service, the VRAM it holds and where the figure comes from (observed, measured, declared). */
export function observationJson(obs: Observation, held?: { config: Config; measured: ReturnType<typeof measuredNow> }): unknown {
  const memory = (o: ServiceObservation): object => {
    const svc = held?.config.services.get(o.name);
    const h = svc ? heldBy(svc, o, held?.measured.get(o.name)) : undefined;
    return held ? { held_vram_mb: h?.mb ?? 0, held_vram_source: h?.source ?? null, ram_mb: o.ramMb } : {};
  };
  return {
    at: new Date(obs.at).toISOString(),
    services: [...obs.services.values()].map((o) => ({ name: o.name, state: o.state, sleep: o.sleep, healthy: o.healthy, vram_mb: o.vramMb, ...memory(o), detail: o.detail })),
    gpu: obs.gpu.available
      ? obs.gpu.gpus.map((g) => ({ index: g.index, name: g.name, total_mb: g.totalMb, used_mb: g.usedMb, foreign_mb: obs.foreignMb.get(g.index) ?? 0 }))
      : { available: false, reason: obs.gpu.reason },
  };
}

export interface StatusReport {
  /** The JSON of `gpumod status --json`. */
  json: Record<string, unknown>;
  observation: Observation;
  state: SwitchState | undefined;
  mode: string | undefined;
  drift: string[];
  idle: string[];
  measured: ReturnType<typeof measuredNow>;
}

/** What is observed now, the mode it amounts to (the recorded one is never trusted over it), as `gpumod status --json` says it. */
export async function statusReport(config: Config, ports: EnginePorts, signal: AbortSignal = new AbortController().signal): Promise<StatusReport> {
  const [obs, state] = await Promise.all([observe(config, ports, signal), ports.store.readState()]);
  explainEnded(config, obs, state);
  const cur = currentMode(config, obs, state?.mode, state?.idle);
  const measured = measuredNow(await learnFrom(config, obs, ports.store, ports.log), config, obs);
  const json = {
    mode: cur.mode ?? null,
    /** The mode's services asleep for idleness (the gateway's idle sleep): the next request wakes them. */
    idle: cur.idle ?? [],
    recorded_mode: state?.mode ?? null,
    drift: cur.drift,
    switching: state?.switching ?? null,
    ...(observationJson(obs, { config, measured }) as object),
  };
  return { json, observation: obs, state, mode: cur.mode, drift: cur.drift, idle: cur.idle ?? [], measured };
}

export function planJson(plan: Plan): unknown {
  return {
    from: plan.from ?? null,
    to: plan.to,
    noop: plan.noop,
    estimate_ms: plan.estimateMs,
    phases: plan.phases,
    steps: plan.steps.map((s) => ({ service: s.service, action: s.action, depth: s.depth, reason: s.reason, estimate_ms: s.estimateMs, vram_after_mb: s.vramAfterMb, vram_source: s.vramSource })),
    budgets: plan.budgets.map((b) => ({ gpu: b.gpu, total_mb: b.totalMb ?? null, before_mb: b.beforeMb, after_mb: b.afterMb, margin_mb: b.marginMb, foreign_mb: b.foreignMb, sources: b.sources })),
    ram_after_mb: plan.ramAfterMb,
    notes: plan.notes,
    refused: plan.refused ?? null,
  };
}

export function switchJson(r: SwitchResult): unknown {
  return {
    ok: r.ok,
    from: r.from ?? null,
    to: r.to,
    mode: r.mode ?? null,
    total_ms: r.totalMs,
    first_answer_ms: r.firstAnswerMs ?? null,
    noop: r.noop,
    cancelled: r.cancelled,
    rolled_back: r.rolledBack,
    failure: r.failure ?? null,
    steps: r.timeline.map(stepJson),
    plan: planJson(r.plan),
    message: r.message,
  };
}

export function actionJson(r: ServiceActionResult): unknown {
  return { ok: r.ok, service: r.service, action: r.action, mode: r.mode ?? null, total_ms: r.totalMs, failure: r.failure ?? null, steps: r.timeline.map(stepJson), message: r.message };
}
