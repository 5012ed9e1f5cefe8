import type { TimelineEntry } from '../src/engine/types';

/** Colours on a terminal, plain text when piped (or NO_COLOR is set). */
export interface Style {
  tty: boolean;
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  red(s: string): string;
  cyan(s: string): string;
  ok: string;
  fail: string;
}

export function makeStyle(tty: boolean): Style {
  const sgr = (code: string) => (s: string): string => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
  return {
    tty,
    bold: sgr('1'),
    dim: sgr('2'),
    green: sgr('32'),
    red: sgr('31'),
    cyan: sgr('36'),
    ok: tty ? '\x1b[32m✓\x1b[0m' : 'ok',
    fail: tty ? '\x1b[31m✗\x1b[0m' : 'FAILED',
  };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** One row of the final table. */
export interface Comparison {
  from: string;
  to: string;
  naiveMs: number;
  gpumodMs: number;
  /** What gpumod did, e.g. "slept glm-code; started vllm-chat". */
  what: string;
}

const VERBS: Array<[TimelineEntry['action'][], string]> = [
  [['sleep'], 'slept'],
  [['stop'], 'stopped'],
  [['wake', 'load'], 'woke'],
  [['start'], 'started'],
];

/** A switch's timeline as "slept a, b; woke c; started d" (the steps that changed a service). */
export function whatHappened(timeline: readonly TimelineEntry[]): string {
  const parts: string[] = [];
  for (const [actions, verb] of VERBS) {
    const names = timeline.filter((e) => actions.includes(e.action) && e.result === 'ok' && e.phase !== 'rollback').map((e) => e.service);
    if (names.length > 0) parts.push(`${verb} ${[...new Set(names)].join(', ')}`);
  }
  return parts.join('; ') || 'nothing';
}

export function speedUp(naiveMs: number, gpumodMs: number): string {
  return gpumodMs > 0 ? `${(naiveMs / gpumodMs).toFixed(1)}x` : '-';
}

/** Visible width, ignoring colour codes. */
function width(s: string): number {
  // eslint-disable-next-line no-control-regex
  return [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

function pad(s: string, n: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, n - width(s)));
  return right ? fill + s : s + fill;
}

/** The final comparison, one row per transition and a total. */
export function comparisonTable(rows: readonly Comparison[], style: Style): string {
  const header = ['transition', 'stop/start', 'gpumod', 'speed-up', 'what gpumod did'];
  const body = rows.map((r) => [`${r.from} → ${r.to}`, seconds(r.naiveMs), seconds(r.gpumodMs), speedUp(r.naiveMs, r.gpumodMs), r.what]);
  const naive = rows.reduce((s, r) => s + r.naiveMs, 0);
  const gpumod = rows.reduce((s, r) => s + r.gpumodMs, 0);
  const total = ['total', seconds(naive), seconds(gpumod), speedUp(naive, gpumod), ''];
  const all = [header, ...body, total];
  const widths = header.map((_, i) => Math.max(...all.map((r) => width(r[i]))));
  const right = [false, true, true, true, false];
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i], right[i]))).join('  ').trimEnd();
  const rule = widths.map((w, i) => '─'.repeat(i === widths.length - 1 ? Math.min(w, 40) : w)).join('  ');
  const plainRule = style.tty ? rule : rule.replace(/─/g, '-');
  return [style.bold(line(header)), style.dim(plainRule), ...body.map(line), style.dim(plainRule), style.bold(line(total))].join('\n') + '\n';
}
