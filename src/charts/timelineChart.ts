import { formatMs } from '../engine/deadline';
import type { SwitchRecord } from '../engine/types';
import { attrs, esc, pct } from './markup';
import { PHASE_NAMES, PHASES, timelineModel, type TimelineModel, type TimelinePhase, type TimelineStep } from './timelineModel';

/**
 * A switch as a Gantt chart: a row per phase and per step on one time axis, the critical path
 * outlined and flagged in words, failures in the theme's error colour with their error, the estimate
 * as a dashed bar under the actual one. Under it, the same data as a table: the text alternative.
 * Colours come from classes only (the page's stylesheet maps them to theme variables).
 */

const TRACK_H = 22;

/** "2025-01-31 14:03:07", local time. */
export function when(at: number): string {
  const d = new Date(at);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function outcomeText(m: TimelineModel): string {
  return `${m.outcome} in ${formatMs(m.totalMs)}${m.estimateMs !== undefined ? ` (estimate ${formatMs(m.estimateMs)})` : ''}${m.rolledBack ? ', rolled back' : ''}`;
}

function gridLines(m: TimelineModel): string {
  return m.ticks.map((t) => `<line class="tick"${attrs({ x1: pct(t, m.scaleMs), x2: pct(t, m.scaleMs), y1: 0, y2: TRACK_H })}/>`).join('');
}

/** A track: the grid, the estimate (dashed, under) and the actual bar with a hover title. */
function track(m: TimelineModel, bar: { startMs: number; ms: number; estimateMs?: number; cls: string; title: string }): string {
  // A 0 ms step is still a step: it gets a sliver.
  const width = Math.max(bar.ms, m.scaleMs * 0.004);
  const est =
    bar.estimateMs !== undefined
      ? `<rect class="estimate"${attrs({ x: pct(bar.startMs, m.scaleMs), y: 15, width: pct(Math.max(bar.estimateMs, m.scaleMs * 0.004), m.scaleMs), height: 5 })}/>`
      : '';
  return (
    `<svg class="track" width="100%" height="${TRACK_H}" focusable="false" aria-hidden="true">${gridLines(m)}${est}` +
    `<rect${attrs({ class: bar.cls, x: pct(bar.startMs, m.scaleMs), y: 2, width: pct(width, m.scaleMs), height: 12, rx: 2 })}><title>${esc(bar.title)}</title></rect></svg>`
  );
}

function timeCell(ms: number, estimateMs: number | undefined): string {
  return `<div class="time">${esc(formatMs(ms))}${estimateMs !== undefined ? ` <span class="est">est. ${esc(formatMs(estimateMs))}</span>` : ''}</div>`;
}

function flags(critical: boolean, extra: string[] = []): string {
  const list = [...(critical ? ['critical path'] : []), ...extra];
  return list.map((f) => ` <span class="flag${f === 'critical path' ? ' crit' : ''}">${esc(f)}</span>`).join('');
}

function stepRow(m: TimelineModel, s: TimelineStep): string {
  const failed = s.result === 'failed' || s.result === 'timeout';
  const cls = `bar phase-${s.phase} result-${s.result}${s.critical ? ' critical' : ''}`;
  const title = `${s.label}: ${s.result}, ${formatMs(s.ms)} from ${formatMs(s.startMs)}${s.estimateMs !== undefined ? ` (estimate ${formatMs(s.estimateMs)})` : ''}${s.error ? ` — ${s.error}` : ''}`;
  const extra = [...(s.result !== 'ok' ? [s.result] : []), ...(s.awaited ? ['awaited'] : [])];
  return (
    `<div${attrs({
      class: `row step result-${s.result}${s.critical ? ' critical' : ''}`,
      'data-kind': 'step',
      'data-index': s.index,
      'data-phase': s.phase,
      'data-service': s.service,
      'data-action': s.action,
      'data-start-ms': s.startMs,
      'data-ms': s.ms,
      'data-estimate-ms': s.estimateMs,
      'data-result': s.result,
      'data-critical': String(s.critical),
      'data-error': s.error,
    })}>` +
    `<div class="label"><span class="name">${esc(s.label)}</span>${flags(s.critical, extra)}${s.error ? `<div class="${failed ? 'error-text' : 'note-text'}">${esc(s.error)}</div>` : ''}</div>` +
    track(m, { startMs: s.startMs, ms: s.ms, estimateMs: s.estimateMs, cls, title }) +
    timeCell(s.ms, s.estimateMs) +
    `</div>`
  );
}

function phaseRow(m: TimelineModel, p: TimelinePhase): string {
  const title = `${p.name}: ${formatMs(p.ms)} from ${formatMs(p.startMs)}${p.estimateMs !== undefined ? ` (estimate ${formatMs(p.estimateMs)})` : ''}`;
  return (
    `<div${attrs({ class: `row phase result-${p.result}${p.critical ? ' critical' : ''}`, 'data-kind': 'phase', 'data-phase': p.phase, 'data-start-ms': p.startMs, 'data-ms': p.ms, 'data-estimate-ms': p.estimateMs, 'data-result': p.result })}>` +
    `<div class="label"><span class="name">${esc(p.name)}</span></div>` +
    track(m, { startMs: p.startMs, ms: p.ms, estimateMs: p.estimateMs, cls: `bar phase-bar phase-${p.phase} result-${p.result}`, title }) +
    timeCell(p.ms, p.estimateMs) +
    `</div>`
  );
}

function totalRow(m: TimelineModel): string {
  return (
    `<div${attrs({ class: `row total result-${m.outcome}`, 'data-kind': 'total', 'data-ms': m.totalMs, 'data-estimate-ms': m.estimateMs })}>` +
    `<div class="label"><span class="name">${m.kind === 'service' ? 'whole action' : 'whole switch'}</span></div>` +
    track(m, { startMs: 0, ms: m.totalMs, estimateMs: m.estimateMs, cls: `bar total-bar result-${m.outcome === 'ok' ? 'ok' : 'failed'}`, title: outcomeText(m) }) +
    timeCell(m.totalMs, m.estimateMs) +
    `</div>`
  );
}

function axisRow(m: TimelineModel): string {
  const last = m.ticks.length - 1;
  const labels = m.ticks
    .map((t, i) => `<text${attrs({ x: pct(t, m.scaleMs), y: 14, 'text-anchor': i === 0 ? 'start' : i === last && t / m.scaleMs > 0.95 ? 'end' : 'middle' })}>${esc(formatMs(t))}</text>`)
    .join('');
  return `<div class="row axis" aria-hidden="true"><div class="label"></div><svg class="track" width="100%" height="${TRACK_H}" focusable="false">${labels}</svg><div class="time"></div></div>`;
}

const LEGEND: [string, string][] = [
  ...PHASES.filter((p) => p !== 'action').map((p): [string, string] => [`bar phase-${p} result-ok`, PHASE_NAMES[p]]),
  ['bar result-failed', 'failed'],
  ['bar phase-acquire result-ok critical', 'critical path'],
  ['estimate', 'estimate'],
];

function legend(): string {
  return `<ul class="legend" aria-hidden="true">${LEGEND.map(([cls, name]) => `<li><svg width="22" height="12" focusable="false"><rect class="${cls}" x="1" y="1" width="20" height="10" rx="2"/></svg>${esc(name)}</li>`).join('')}</ul>`;
}

function resultText(s: TimelineStep): string {
  return `${s.result}${s.error ? `: ${s.error}` : ''}${s.awaited ? ' (awaited a transition under way)' : ''}`;
}

/** The text alternative: every step with the same figures the chart draws. */
function table(m: TimelineModel): string {
  const rows = m.phases
    .flatMap((p) => p.steps)
    .map(
      (s) =>
        `<tr${attrs({ 'data-index': s.index, 'data-critical': String(s.critical), class: `result-${s.result}` })}>` +
        `<td>${esc(PHASE_NAMES[s.phase])}</td><th scope="row">${esc(s.label)}</th><td class="num">${esc(formatMs(s.startMs))}</td><td class="num">${esc(formatMs(s.ms))}</td>` +
        `<td class="num">${s.estimateMs !== undefined ? esc(formatMs(s.estimateMs)) : '–'}</td><td>${esc(resultText(s))}</td><td>${s.critical ? 'yes' : 'no'}</td></tr>`,
    )
    .join('');
  const phases = m.phases
    .map((p) => `<tr data-phase="${esc(p.phase)}"><th scope="row">${esc(p.name)}</th><td class="num">${esc(formatMs(p.startMs))}</td><td class="num">${esc(formatMs(p.ms))}</td><td class="num">${p.estimateMs !== undefined ? esc(formatMs(p.estimateMs)) : '–'}</td><td>${esc(p.result)}</td></tr>`)
    .join('');
  return (
    `<table class="data steps-table"><caption>Steps: start and duration from the beginning of the switch, estimate, result</caption>` +
    `<thead><tr><th scope="col">Phase</th><th scope="col">Step</th><th scope="col">Start</th><th scope="col">Took</th><th scope="col">Estimate</th><th scope="col">Result</th><th scope="col">Critical path</th></tr></thead>` +
    `<tbody>${rows}</tbody></table>` +
    `<table class="data phases-table"><caption>Phases</caption><thead><tr><th scope="col">Phase</th><th scope="col">Start</th><th scope="col">Took</th><th scope="col">Estimate</th><th scope="col">Result</th></tr></thead><tbody>${phases}</tbody></table>`
  );
}

/** The chart and its table for one model (no page around it). */
export function timelineMarkup(m: TimelineModel): string {
  const summary = `${m.title}: ${outcomeText(m)}`;
  const criticalSteps = m.phases.flatMap((p) => p.steps).filter((s) => s.critical).map((s) => s.label);
  const rows = m.phases.map((p) => phaseRow(m, p) + p.steps.map((s) => stepRow(m, s)).join('')).join('');
  return (
    `<section class="timeline"${attrs({ 'data-outcome': m.outcome, 'data-started-at': m.startedAt })}>` +
    `<h1>${esc(m.title)}</h1>` +
    `<p class="summary">${esc(when(m.startedAt))} · <span class="outcome outcome-${m.outcome}">${esc(outcomeText(m))}</span></p>` +
    (m.error ? `<p class="error-text" role="alert">${esc(m.error)}</p>` : '') +
    (criticalSteps.length ? `<p class="critical-summary">Critical path: ${esc(criticalSteps.join(' → '))}</p>` : '') +
    legend() +
    `<figure class="gantt" role="img"${attrs({ 'aria-label': `Gantt chart of ${summary}. The tables below give the same data.` })}>` +
    (m.phases.length === 0 ? '<p class="empty">No steps were recorded.</p>' : totalRow(m) + rows + axisRow(m)) +
    `</figure>` +
    (m.phases.length ? table(m) : '') +
    `</section>`
  );
}

export function timelineChart(r: SwitchRecord): string {
  return timelineMarkup(timelineModel(r));
}
