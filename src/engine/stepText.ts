import { formatMs } from './deadline';
import type { StepEvent } from './steps';
import type { TimelineEntry } from './types';

const VERB: Record<string, string> = {
  sleep: 'sleeping', stop: 'stopping', wake: 'waking', load: 'loading', start: 'starting', ready: 'checking', verify: 'verifying', restart: 'restarting', 'wait-free': 'waiting for memory',
};

/** A step that begins, as a progress message: "waking vllm-chat (l1)…". */
export function stepMessage(e: StepEvent): string | undefined {
  if (e.kind !== 'begin') return undefined;
  return `${VERB[e.action] ?? e.action} ${e.service}${e.depth ? ` (${e.depth})` : ''}…`;
}

const MARKS: Record<TimelineEntry['result'], string> = { ok: '✓', skipped: '·', 'rolled-back': '↺', failed: '✗', cancelled: '✗', timeout: '✗' };

/** One progress line per finished step (`  ✓ wake vllm-chat (l1)  312 ms`, `  · wait-free gpu  0 ms  skipped: …`). */
export function progressLine(e: StepEvent): string | undefined {
  if (e.kind !== 'end') return undefined;
  const x = e.entry;
  return `  ${MARKS[x.result]} ${x.action} ${x.service}${x.depth ? ` (${x.depth})` : ''}  ${formatMs(x.ms)}${x.result !== 'ok' ? `  ${x.result}${x.error ? `: ${x.error}` : ''}` : ''}`;
}
