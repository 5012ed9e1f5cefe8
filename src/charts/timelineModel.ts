import type { Phase, PhaseEstimate, StepResult, SwitchRecord, TimelineAction, TimelineEntry } from '../engine/types';

/** The phases in the order a switch runs them (`action` is a single-service action's one phase). */
export const PHASES: readonly Phase[] = ['release', 'wait-free', 'acquire', 'ready', 'verify', 'rollback', 'action'];

export const PHASE_NAMES: Record<Phase, string> = {
  release: 'release',
  'wait-free': 'wait for freed memory',
  acquire: 'acquire',
  ready: 'ready',
  verify: 'verify',
  rollback: 'rollback',
  action: 'action',
};

export interface TimelineStep {
  /** Position in the record's timeline: ties a chart bar to its table row. */
  index: number;
  phase: Phase;
  service: string;
  action: TimelineAction;
  label: string;
  startMs: number;
  ms: number;
  result: StepResult;
  error?: string;
  estimateMs?: number;
  awaited: boolean;
  /** On the chain of steps that decided when the switch ended. */
  critical: boolean;
}

export interface TimelinePhase {
  phase: Phase;
  name: string;
  startMs: number;
  ms: number;
  /** The worst result among its steps. */
  result: StepResult;
  estimateMs?: number;
  critical: boolean;
  steps: TimelineStep[];
}

export interface TimelineModel {
  title: string;
  kind: SwitchRecord['kind'];
  startedAt: number;
  outcome: 'ok' | 'failed' | 'cancelled';
  rolledBack: boolean;
  error?: string;
  totalMs: number;
  estimateMs?: number;
  /** Where the time axis ends: the switch's length, or its estimate when that is at most twice as long. */
  scaleMs: number;
  ticks: number[];
  phases: TimelinePhase[];
}

/** Old records carry no phase: the action says which one it was. */
export function phaseOf(e: TimelineEntry, kind: SwitchRecord['kind']): Phase {
  if (e.phase) return e.phase;
  if (kind === 'service') return 'action';
  switch (e.action) {
    case 'sleep':
    case 'stop':
      return 'release';
    case 'wait-free':
      return 'wait-free';
    case 'ready':
      return 'ready';
    case 'verify':
      return 'verify';
    default:
      return 'acquire';
  }
}

export function stepLabel(e: Pick<TimelineEntry, 'action' | 'service' | 'depth'>): string {
  return `${e.action} ${e.service}${e.depth ? ` (${e.depth})` : ''}`;
}

/** Steps that end within this of another's start follow it (timestamps are taken a few ms apart). */
function slackMs(totalMs: number): number {
  return Math.max(5, totalMs * 0.005);
}

/**
 * The critical path, read backwards from the end: the step that finished last, then the one that
 * finished last before it began, and so on. Parallel steps that finished earlier did not delay the
 * switch; the chain that remains is what a faster switch must shorten. Returns timeline indexes.
 */
export function criticalPath(steps: readonly Pick<TimelineEntry, 'startMs' | 'ms'>[]): Set<number> {
  const out = new Set<number>();
  if (steps.length === 0) return out;
  const end = (i: number): number => steps[i].startMs + steps[i].ms;
  const slack = slackMs(Math.max(...steps.map((_, i) => end(i))));
  const better = (i: number, best: number | undefined): boolean =>
    best === undefined || end(i) > end(best) || (end(i) === end(best) && steps[i].ms > steps[best].ms);
  let cur: number | undefined;
  for (let i = 0; i < steps.length; i++) if (better(i, cur)) cur = i;
  while (cur !== undefined) {
    out.add(cur);
    const before = steps[cur].startMs + slack;
    let next: number | undefined;
    for (let i = 0; i < steps.length; i++) {
      if (out.has(i) || end(i) > before || end(i) > end(cur)) continue;
      // A step that began after this one did not hold it up.
      if (steps[i].startMs > steps[cur].startMs) continue;
      if (better(i, next)) next = i;
    }
    cur = next;
  }
  return out;
}

const SEVERITY: Record<StepResult, number> = { ok: 0, skipped: 1, 'rolled-back': 2, cancelled: 3, timeout: 4, failed: 5 };

function worst(results: StepResult[]): StepResult {
  return results.reduce<StepResult>((w, r) => (SEVERITY[r] > SEVERITY[w] ? r : w), 'ok');
}

/** Axis ticks at 1, 2 or 5 × 10^k ms, at most `max` of them beyond zero. */
export function ticks(scaleMs: number, max = 8): number[] {
  if (!(scaleMs > 0)) return [0];
  let step = 1;
  for (let k = 1; step * max < scaleMs; k++) step = [1, 2, 5][k % 3] * 10 ** Math.floor(k / 3);
  const out: number[] = [];
  for (let t = 0; t <= scaleMs + 1e-9; t += step) out.push(t);
  return out;
}

function phaseEstimate(p: Phase, e: PhaseEstimate | undefined): number | undefined {
  if (!e) return undefined;
  if (p === 'release') return e.releaseMs;
  if (p === 'wait-free') return e.waitFreeMs;
  if (p === 'acquire') return e.acquireMs;
  return undefined;
}

/** One recorded switch (or service action) as the chart draws it: phases, their steps, the critical path. */
export function timelineModel(r: SwitchRecord): TimelineModel {
  const critical = criticalPath(r.steps);
  const steps: TimelineStep[] = r.steps.map((e, index) => ({
    index,
    phase: phaseOf(e, r.kind),
    service: e.service,
    action: e.action,
    label: stepLabel(e),
    startMs: e.startMs,
    ms: e.ms,
    result: e.result,
    ...(e.error ? { error: e.error } : {}),
    ...(e.estimateMs !== undefined ? { estimateMs: e.estimateMs } : {}),
    awaited: e.awaited === true,
    critical: critical.has(index),
  }));
  const phases: TimelinePhase[] = [];
  for (const phase of PHASES) {
    const of = steps.filter((s) => s.phase === phase).sort((a, b) => a.startMs - b.startMs || a.index - b.index);
    if (of.length === 0) continue;
    const start = Math.min(...of.map((s) => s.startMs));
    const end = Math.max(...of.map((s) => s.startMs + s.ms));
    const est = phaseEstimate(phase, r.phaseEstimates);
    phases.push({
      phase,
      name: PHASE_NAMES[phase],
      startMs: start,
      ms: end - start,
      result: worst(of.map((s) => s.result)),
      ...(est !== undefined ? { estimateMs: est } : {}),
      critical: of.some((s) => s.critical),
      steps: of,
    });
  }
  // The actual switch sets the axis; an estimate shows whole up to twice as long, a wilder one is cut
  // at the edge (its figure stays in the time column) rather than shrink the actual bars to slivers.
  const actual = Math.max(1, r.totalMs, ...steps.map((s) => s.startMs + s.ms));
  const estimated = Math.max(r.estimateMs ?? 0, ...steps.map((s) => s.startMs + (s.estimateMs ?? 0)));
  const scaleMs = Math.max(actual, Math.min(estimated, 2 * actual));
  const what = r.kind === 'service' ? `${r.service ?? steps[0]?.service ?? 'service'}` : `${r.from ?? '(no mode)'} → ${r.to ?? '(no mode)'}`;
  return {
    title: what,
    kind: r.kind,
    startedAt: r.startedAt,
    outcome: r.ok ? 'ok' : r.cancelled ? 'cancelled' : 'failed',
    rolledBack: r.rolledBack,
    ...(r.error ? { error: r.error } : {}),
    totalMs: r.totalMs,
    ...(r.estimateMs !== undefined ? { estimateMs: r.estimateMs } : {}),
    scaleMs,
    ticks: ticks(scaleMs),
    phases,
  };
}
