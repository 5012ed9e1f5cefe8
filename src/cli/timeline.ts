import { formatMs } from '../engine/deadline';
import type { StepEvent } from '../engine/steps';
import type { TimelineEntry } from '../engine/types';
import type { CliIo } from './io';

const MARKS: Record<TimelineEntry['result'], string> = { ok: '✓', skipped: '·', 'rolled-back': '↺', failed: '✗', cancelled: '✗', timeout: '✗' };

/** One progress line per finished step (`  ✓ wake vllm-chat (l1)  312 ms`, `  · wait-free gpu  0 ms  skipped: …`). */
export function progressLine(e: StepEvent): string | undefined {
  if (e.kind !== 'end') return undefined;
  const x = e.entry;
  return `  ${MARKS[x.result]} ${x.action} ${x.service}${x.depth ? ` (${x.depth})` : ''}  ${formatMs(x.ms)}${x.result !== 'ok' ? `  ${x.result}${x.error ? `: ${x.error}` : ''}` : ''}`;
}

/** Prints each finished step as it ends. */
export function printProgress(io: CliIo): (e: StepEvent) => void {
  return (e) => {
    const line = progressLine(e);
    if (line) io.out(line + '\n');
  };
}
