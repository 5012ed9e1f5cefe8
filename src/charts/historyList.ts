import { formatMs } from '../engine/deadline';
import type { SwitchRecord } from '../engine/types';
import { attrs, esc } from './markup';
import { when } from './timelineChart';

/** The id a history entry is opened by (its start; two records never start in the same millisecond). */
export function recordId(r: Pick<SwitchRecord, 'startedAt'>): string {
  return String(r.startedAt);
}

function what(r: SwitchRecord): string {
  return r.kind === 'service' ? `${r.steps[0]?.action ?? 'action'} ${r.service ?? ''}`.trim() : `${r.from ?? '(no mode)'} → ${r.to ?? '(no mode)'}`;
}

/** Past switches and actions, newest first, as buttons: Tab reaches each, Enter opens it. */
export function historyMarkup(records: readonly SwitchRecord[], current: string | undefined): string {
  if (records.length === 0) return '';
  const items = [...records]
    .sort((a, b) => b.startedAt - a.startedAt)
    .map((r) => {
      const id = recordId(r);
      const result = r.ok ? '' : `<span class="mark-failed">${r.cancelled ? 'cancelled' : 'failed'}</span> · `;
      return (
        `<li><button${attrs({ type: 'button', 'data-open': id, 'aria-current': id === current ? 'true' : undefined, 'aria-label': `${what(r)}, ${when(r.startedAt)}, ${r.ok ? 'ok' : r.cancelled ? 'cancelled' : 'failed'} in ${formatMs(r.totalMs)}` })}>` +
        `${esc(what(r))}<span class="sub">${result}${esc(formatMs(r.totalMs))} · ${esc(when(r.startedAt))}</span></button></li>`
      );
    })
    .join('');
  return `<nav class="history" aria-label="Past switches"><h2>Past switches</h2><ul>${items}</ul></nav>`;
}
