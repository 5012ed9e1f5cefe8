import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { page } from '../charts/page';
import { timelineChart } from '../charts/timelineChart';
import type { SwitchRecord } from '../engine/types';
import { writeFileAtomic } from '../system/stateStore';

/** The file `gpumod history --open` writes: one page, no external resource, readable in any browser. */
export const EXPORT_FILE = 'last-switch.html';

/** The switch as a self-contained HTML page (the chart the editor shows, in a neutral palette). */
export function timelineHtml(r: SwitchRecord): string {
  const title = r.kind === 'service' ? `gpumod: ${r.service ?? 'service'}` : `gpumod switch ${r.from ?? '(no mode)'} → ${r.to ?? '(no mode)'}`;
  return page({ title, body: `<main id="content">${timelineChart(r)}</main>`, nonce: randomBytes(18).toString('base64url') });
}

/** Writes the export of `r` into the state dir and returns its path. */
export async function exportTimeline(stateDir: string, r: SwitchRecord): Promise<string> {
  const path = join(stateDir, EXPORT_FILE);
  await writeFileAtomic(path, timelineHtml(r), 0o600);
  return path;
}
