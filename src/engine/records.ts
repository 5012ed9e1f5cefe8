import { printable } from './printable';
import type { PhaseEstimate, RecordedAnswer, SwitchInProgress, SwitchRecord, SwitchState, TimelineEntry } from './types';

/**
 * Files on disk are not trusted to be ours or whole: these accept what has the expected shape and
 * drop the rest, so a hand-edited or foreign file never crashes a switch. Text is made printable.
 */

/** A recorded switch is dated between these; anything else (1e20, a negative date) is not a real record. */
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);
/** No step or switch lasts longer: gpumod's own deadlines are minutes. */
export const MAX_RECORDED_MS = 24 * 60 * 60 * 1000;
/** Linux's PID_MAX_LIMIT. */
const MAX_PID = 4_194_304;

const isDate = (v: unknown): v is number => typeof v === 'number' && v >= EARLIEST && v < LATEST;
const isDuration = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= MAX_RECORDED_MS;
const isPid = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0 && (v as number) <= MAX_PID;

function text(v: unknown, max?: number): string | undefined {
  return typeof v === 'string' ? printable(v, max) : undefined;
}

/** The in-progress marker, if every field has its type; its text is made printable. */
export function asMarker(v: unknown): SwitchInProgress | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const m = v as Record<string, unknown>;
  if (typeof m.to !== 'string' || !isPid(m.pid) || typeof m.startedAt !== 'number' || !Number.isFinite(m.startedAt)) return undefined;
  if (m.from !== undefined && m.from !== null && typeof m.from !== 'string') return undefined;
  if (m.procStart !== undefined && (typeof m.procStart !== 'string' || !/^\d{1,20}$/.test(m.procStart))) return undefined;
  return { from: text(m.from), to: printable(m.to), pid: m.pid, startedAt: m.startedAt, ...(m.procStart !== undefined ? { procStart: m.procStart } : {}) };
}

export function asSwitchState(v: unknown): SwitchState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Partial<SwitchState>;
  if (s.mode !== undefined && typeof s.mode !== 'string') return undefined;
  if (typeof s.at !== 'number' || typeof s.services !== 'object' || s.services === null) return undefined;
  const switching = asMarker(s.switching);
  const answers = asAnswers(s.answers);
  const idle = Array.isArray(s.idle) ? s.idle.filter((n): n is string => typeof n === 'string').map((n) => printable(n)) : [];
  return { mode: text(s.mode), at: s.at, services: s.services, ...(switching ? { switching } : {}), ...(answers ? { answers } : {}), ...(idle.length ? { idle } : {}) };
}

/** Recorded readiness answers, each kept only whole (a string of sane length and a PID). */
function asAnswers(v: unknown): Record<string, RecordedAnswer> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, RecordedAnswer> = Object.create(null) as Record<string, RecordedAnswer>;
  for (const [name, a] of Object.entries(v as Record<string, unknown>)) {
    if (typeof a !== 'object' || a === null) continue;
    const r = a as Partial<RecordedAnswer>;
    if (typeof r.answer === 'string' && r.answer.length <= 2000 && isPid(r.pid)) out[name] = { answer: r.answer, pid: r.pid };
  }
  return out;
}

function isStep(e: unknown): e is TimelineEntry {
  if (typeof e !== 'object' || e === null) return false;
  const t = e as Partial<TimelineEntry>;
  return typeof t.service === 'string' && isDuration(t.ms) && (t.startMs === undefined || isDuration(t.startMs));
}

/** A history record, or undefined when its shape is wrong or a time is out of range (steps with one are dropped). */
export function asSwitchRecord(v: unknown): SwitchRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<SwitchRecord>;
  if ((r.kind !== 'switch' && r.kind !== 'service') || !isDate(r.startedAt) || !isDuration(r.totalMs)) return undefined;
  if (r.estimateMs !== undefined && !isDuration(r.estimateMs)) return undefined;
  if (typeof r.ok !== 'boolean' || !Array.isArray(r.steps)) return undefined;
  const steps = r.steps.filter(isStep).map((e) => {
    const step: TimelineEntry = { ...e, service: printable(e.service), error: text(e.error, 500) };
    if (!isDuration(step.estimateMs)) delete step.estimateMs;
    return step;
  });
  const phases = asPhaseEstimate(r.phaseEstimates);
  const out: SwitchRecord = {
    ...(r as SwitchRecord),
    from: text(r.from),
    to: text(r.to),
    service: text(r.service),
    error: text(r.error, 500),
    steps,
  };
  if (phases) out.phaseEstimates = phases;
  else delete out.phaseEstimates;
  return out;
}

function asPhaseEstimate(v: unknown): PhaseEstimate | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = v as Partial<PhaseEstimate>;
  return isDuration(p.releaseMs) && isDuration(p.waitFreeMs) && isDuration(p.acquireMs) ? { releaseMs: p.releaseMs, waitFreeMs: p.waitFreeMs, acquireMs: p.acquireMs } : undefined;
}

/** The records among `values`, and how many were ignored (for the log). */
export function asSwitchRecords(values: unknown[]): { records: SwitchRecord[]; ignored: number } {
  const records: SwitchRecord[] = [];
  for (const v of values) {
    const r = asSwitchRecord(v);
    if (r) records.push(r);
  }
  return { records, ignored: values.length - records.length };
}
