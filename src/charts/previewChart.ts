import { mb } from '../engine/budget';
import { formatMs } from '../engine/deadline';
import type { Plan, PlanStep } from '../engine/types';
import { attrs, esc } from './markup';
import { memoryFigure, memoryTable } from './memoryChart';
import type { MemoryBar } from './memoryModel';

/** The Switch Mode preview in full: each card's memory now and after the plan, and the plan's steps. */
export interface PreviewView {
  from: string | undefined;
  to: string;
  plan: Plan;
  before: MemoryBar[];
  after: MemoryBar[];
}

function stepText(s: PlanStep): string {
  return `${s.action}${s.depth ? ` (${s.depth})` : ''}`;
}

function vramAfter(s: PlanStep): string {
  if (s.vramAfterMb <= 0) return '–';
  return `${mb(s.vramAfterMb)}${s.vramSource && s.vramSource !== 'measured' ? ` (${s.vramSource})` : s.vramSource === 'measured' ? ' (measured)' : ''}`;
}

function stepsTable(plan: Plan): string {
  const rows = plan.steps
    .map(
      (s) =>
        `<tr${attrs({ 'data-service': s.service, 'data-action': s.action, 'data-vram-after-mb': Math.round(s.vramAfterMb), 'data-source': s.vramSource, class: s.action === 'keep' ? 'keep' : undefined })}>` +
        `<th scope="row">${esc(s.service)}</th><td>${esc(stepText(s))}</td><td>${esc(s.reason)}</td><td class="num">${s.action === 'keep' ? '–' : esc(formatMs(s.estimateMs))}</td><td class="num">${esc(vramAfter(s))}</td></tr>`,
    )
    .join('');
  return (
    `<table class="data plan-table"><caption>The plan's steps</caption>` +
    `<thead><tr><th scope="col">Service</th><th scope="col">Step</th><th scope="col">Why</th><th scope="col">Estimate</th><th scope="col">VRAM after</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

export function previewMarkup(v: PreviewView): string {
  const { plan } = v;
  const title = `${v.from ?? '(no mode)'} → ${v.to}`;
  const summary = plan.refused
    ? `<p class="error-text" role="alert">Refused: ${esc(plan.refused.reason)}</p>`
    : plan.noop
      ? `<p class="summary">Already in ${esc(v.to)}: nothing to do.</p>`
      : `<p class="summary">Estimated ${esc(formatMs(plan.estimateMs))}: release ${esc(formatMs(plan.phases.releaseMs))}, wait for freed memory ${esc(formatMs(plan.phases.waitFreeMs))}, acquire ${esc(formatMs(plan.phases.acquireMs))}.</p>`;
  // Both bars first, one under the other on one scale of the card; their tables after them.
  const cards = v.before
    .map((b) => {
      const after = v.after.find((a) => a.gpu === b.gpu);
      const nowId = `before-${b.gpu}`;
      const afterId = `after-${b.gpu}`;
      const afterHeading = `After the switch to ${v.to}`;
      return (
        `<section${attrs({ class: 'card', 'data-gpu': b.gpu })}><h2>GPU ${esc(b.gpu)} · ${esc(b.name)}</h2>` +
        `<div class="before" data-when="before">${memoryFigure(b, { id: nowId, heading: 'Now', headingLevel: 3 })}</div>` +
        (after ? `<div class="after" data-when="after">${memoryFigure(after, { id: afterId, heading: afterHeading, headingLevel: 3 })}</div>` : '') +
        `<div class="tables">${memoryTable(b, { id: nowId, caption: 'Now: who holds the memory' })}${after ? memoryTable(after, { id: afterId, caption: `${afterHeading}: who holds the memory` }) : ''}</div>` +
        `</section>`
      );
    })
    .join('');
  const notes = plan.notes.length ? `<h2>Notes</h2><ul class="notes">${plan.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  return (
    `<section class="preview"${attrs({ 'data-to': v.to, 'data-from': v.from })}><h1>Switch preview: ${esc(title)}</h1>${summary}` +
    `<p class="summary">Hatched: a figure declared in the config, not a measurement.</p>` +
    cards +
    `<h2>Steps</h2>${stepsTable(plan)}${notes}</section>`
  );
}
