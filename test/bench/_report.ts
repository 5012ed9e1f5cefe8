// The bench's figures per card and transition, from its runs: medians, speed-ups, time to first token,
// the engine's overhead beside the fakes' critical path (test/bench/_latency.ts), and the table.
import { median } from '../../src/engine/history';
import type { FirstRequest } from './_firstToken';
import { ttftOf } from './_firstToken';
import { criticalPathMs, freedWaitMs, slowestWakeMs, type BenchStep, type LatencyModel } from './_latency';
import type { Run, Strategy } from './_strategies';

export type Card = '32' | '24';
/** Rows of the table, in order. */
export const ROWS = ['code→rag', 'code→rag (from blank)', 'rag→speak', 'speak→blank', 'blank→code', 'code→code', 'full cycle'] as const;
export type Row = (typeof ROWS)[number];
export type Results = Record<Row, Record<Strategy, Run[]>>;
export const STRATEGIES: Strategy[] = ['naive', 'sequential', 'gpumod'];
/** The cycle's legs, whose runs make up a full cycle's. */
export const LEG_ROWS: Row[] = ['blank→code', 'code→rag (from blank)', 'rag→speak', 'speak→blank'];

export function emptyResults(): Results {
  return Object.fromEntries(ROWS.map((r) => [r, { naive: [], sequential: [], gpumod: [] }])) as unknown as Results;
}

type PerStrategy<T> = Record<Strategy, T>;

export interface RowReport {
  card: Card;
  row: Row;
  medianMs: PerStrategy<number | undefined>;
  runsMs: PerStrategy<number[]>;
  speedup: number | undefined;
  /** From the switch's start until the slowest incoming service answered its first request: medians and runs. */
  ttftMs: PerStrategy<number | undefined>;
  ttftRunsMs: PerStrategy<number[]>;
  ttftSpeedup: number | undefined;
  /** gpumod: wall minus the fakes' critical path, median over runs (a cycle: summed over its legs). */
  overheadMs: number | undefined;
  /** gpumod: the same minus the time inside nvidia-smi it holds (`gpuOverheadMs`), median over runs. */
  overheadBesidesGpuMs: number | undefined;
  criticalMs: number | undefined;
  /** gpumod: all the time inside nvidia-smi, median over runs. */
  gpuQueryMs: number | undefined;
  /** gpumod: the part of it that is overhead (not spent waiting for memory the fakes had not freed yet), median over runs. */
  gpuOverheadMs: number | undefined;
  /** Median 1-minute load average when gpumod's switches (else the row's any) returned. */
  load: number | undefined;
  what: string;
  naiveWhat: string;
  notes: string[];
  allAsleep: boolean;
  slowestWakeMs: number;
  /** gpumod, every run: the services it cold-started, and those of them no plan note explains. */
  coldStarts: number;
  unexplained: string[];
  /** Every run's first requests, per strategy. */
  firstRequests: PerStrategy<FirstRequest[]>;
}

export const fmtS = (ms: number): string => (ms / 1000).toFixed(ms < 10000 ? 2 : 1);

export function describeSteps(steps: BenchStep[]): string {
  const by = new Map<string, string[]>();
  for (const s of steps) by.set(s.action, [...(by.get(s.action) ?? []), s.service + (s.depth && s.action === 'sleep' ? `(${s.depth})` : '')]);
  const verbs: Record<string, string> = { sleep: 'slept', wake: 'woke', load: 'loaded', start: 'started', stop: 'stopped' };
  return [...by].map(([a, names]) => `${verbs[a]} ${names.join(' ')}`).join('; ') || 'nothing';
}

/**
 * A switch's critical path, and the part of its time inside nvidia-smi that is overhead: the queries
 * outside the wait for freed memory, and those inside it only as far as the wait outlasted what the
 * fakes' release lags make it (a query while the memory is still held costs nothing).
 */
export function measure(model: LatencyModel, r: Run): { critical: number; gpu: number } {
  const expected = freedWaitMs(model, r.steps, r.waitedForFreed);
  const inWait = Math.min(r.gpuQueryInWaitMs, Math.max(0, r.waitFreeMs - expected));
  return { critical: criticalPathMs(model, r.steps, r.waitedForFreed), gpu: r.gpuQueryMs - r.gpuQueryInWaitMs + inWait };
}

function measureRow(model: LatencyModel, r: Run, row: Row, legs: Run[]): { critical: number; gpu: number } {
  if (row !== 'full cycle') return measure(model, r);
  return legs.map((l) => measure(model, l)).reduce((t, m) => ({ critical: t.critical + m.critical, gpu: t.gpu + m.gpu }), { critical: 0, gpu: 0 });
}

const medianOr = (xs: number[]): number | undefined => (xs.length ? median(xs) : undefined);
const per = <T>(f: (s: Strategy) => T): PerStrategy<T> => ({ naive: f('naive'), sequential: f('sequential'), gpumod: f('gpumod') });

export function report(model: LatencyModel, card: Card, results: Results): RowReport[] {
  const out: RowReport[] = [];
  for (const row of ROWS) {
    const runs = results[row];
    const g = runs.gpumod;
    const measured = g.map((r, i) => measureRow(model, r, row, LEG_ROWS.map((lr) => results[lr].gpumod[i])));
    const acquire = g.flatMap((r) => r.steps.filter((s) => s.action !== 'sleep' && s.action !== 'stop'));
    const medianMs = per((s) => medianOr(runs[s].map((r) => r.wallMs)));
    // A cycle's time to first token is its legs', not one figure: left out.
    const ttftRunsMs = per((s) => (row === 'full cycle' ? [] : runs[s].flatMap((r) => ttftOf(r.firstRequests ?? []) ?? [])));
    const ttftMs = per((s) => medianOr(ttftRunsMs[s]));
    const started = row === 'full cycle' ? [] : g.flatMap((r) => r.steps.filter((s) => s.action === 'start').map((s) => ({ name: s.service, notes: r.notes })));
    const loads = (g.length ? g : [...runs.naive, ...runs.sequential]).map((r) => r.load);
    out.push({
      card,
      row,
      medianMs,
      runsMs: per((s) => runs[s].map((r) => r.wallMs)),
      speedup: medianMs.naive !== undefined && medianMs.gpumod ? medianMs.naive / medianMs.gpumod : undefined,
      ttftMs,
      ttftRunsMs,
      ttftSpeedup: ttftMs.naive !== undefined && ttftMs.gpumod ? ttftMs.naive / ttftMs.gpumod : undefined,
      overheadMs: medianOr(g.map((r, i) => r.wallMs - measured[i].critical)),
      overheadBesidesGpuMs: medianOr(g.map((r, i) => r.wallMs - measured[i].critical - measured[i].gpu)),
      criticalMs: medianOr(measured.map((m) => m.critical)),
      gpuQueryMs: medianOr(g.map((r) => r.gpuQueryMs)),
      gpuOverheadMs: medianOr(measured.map((m) => m.gpu)),
      load: medianOr(loads),
      what: g.length ? (row === 'full cycle' ? `${g[0].steps.length} steps` : describeSteps(g[0].steps)) : '',
      naiveWhat: runs.naive.length ? (row === 'full cycle' ? `${runs.naive[0].steps.length} steps` : describeSteps(runs.naive[0].steps)) : '',
      notes: g[0]?.notes ?? [],
      allAsleep: row !== 'full cycle' && acquire.length > 0 && acquire.every((s) => s.action === 'wake' || s.action === 'load'),
      slowestWakeMs: g.length ? slowestWakeMs(model, g[0].steps) : 0,
      coldStarts: started.length,
      unexplained: [...new Set(started.filter((x) => !x.notes.some((n) => n.startsWith(`${x.name} `) && n.includes('cold-start'))).map((x) => x.name))],
      firstRequests: per((s) => runs[s].flatMap((r) => r.firstRequests ?? [])),
    });
  }
  return out;
}

export interface FirstRequestFigures {
  /** Median ms of the request alone, and every run's, after a wake (or a llama.cpp load) and after a start. */
  afterWake?: { medianMs: number; runsMs: number[] };
  afterStart?: { medianMs: number; runsMs: number[] };
}

/** Per card and service: how long its first request took after a wake and after a start, over every strategy and run. */
export function firstRequestFigures(rows: RowReport[]): Record<string, Record<string, FirstRequestFigures>> {
  const out: Record<string, Record<string, FirstRequestFigures>> = {};
  // 24 GB code→rag shares its runs with the cycle leg: counted once.
  const seen = new Set<FirstRequest>();
  for (const r of rows) {
    for (const f of STRATEGIES.flatMap((s) => r.firstRequests[s])) {
      if (seen.has(f)) continue;
      seen.add(f);
      const svc = ((out[`${r.card} GB`] ??= {})[f.service] ??= {});
      const key = f.action === 'start' ? 'afterStart' : 'afterWake';
      const slot = (svc[key] ??= { medianMs: 0, runsMs: [] });
      slot.runsMs.push(f.requestMs);
      slot.medianMs = median(slot.runsMs);
    }
  }
  return out;
}

export const sOrDash = (ms: number | undefined): string => (ms === undefined ? '-' : fmtS(ms));
export const xOrDash = (x: number | undefined): string => (x === undefined ? '-' : `${x.toFixed(x < 10 ? 1 : 0)}x`);
export const msOrDash = (ms: number | undefined): string => (ms === undefined ? '-' : String(Math.round(ms)));

/** A plain-text table: columns padded to their widest cell, the `numeric` ones right-aligned. */
export function textTable(head: string[], cells: string[][], numeric: (i: number) => boolean): string {
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((x, i) => (numeric(i) ? x.padStart(width[i]) : x.padEnd(width[i]))).join('  ').trimEnd();
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function table(rows: RowReport[]): string {
  const head = ['card', 'transition', 'naive s', 'sequential s', 'gpumod s', 'speed-up', 'TTFT naive s', 'TTFT seq s', 'TTFT gpumod s', 'TTFT x', 'overhead ms', 'nvidia-smi ms', 'load', 'gpumod did'];
  const cells = rows.map((r) => [
    `${r.card} GB`,
    r.row,
    sOrDash(r.medianMs.naive),
    sOrDash(r.medianMs.sequential),
    sOrDash(r.medianMs.gpumod),
    xOrDash(r.speedup),
    sOrDash(r.ttftMs.naive),
    sOrDash(r.ttftMs.sequential),
    sOrDash(r.ttftMs.gpumod),
    xOrDash(r.ttftSpeedup),
    msOrDash(r.overheadMs),
    msOrDash(r.gpuOverheadMs),
    r.load === undefined ? '-' : r.load.toFixed(1),
    r.what,
  ]);
  return textTable(head, cells, (i) => i >= 2 && i <= 12);
}
