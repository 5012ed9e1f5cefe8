import { mb } from '../engine/budget';
import { segmentText, usedOfTotal } from './memoryChart';
import type { MemoryBar, SegmentKind } from './memoryModel';

/** Where a chart cannot be drawn (a tree item's tooltip, a terminal): the bar in block characters. */

const GLYPH: Record<SegmentKind, string> = { awake: '█', asleep: '▓', router: '▓', foreign: '▒', unattributed: '▒', margin: '░', free: '·' };

/** Character counts per segment summing to `width` (largest remainder), each holder visible with at least one. */
export function cells(sizes: number[], width: number): number[] {
  const total = sizes.reduce((s, x) => s + x, 0);
  if (total <= 0) return sizes.map(() => 0);
  const exact = sizes.map((x) => (x / total) * width);
  const out = exact.map((x, i) => (sizes[i] > 0 ? Math.max(1, Math.floor(x)) : 0));
  let left = width - out.reduce((s, x) => s + x, 0);
  const byRemainder = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r);
  for (let k = 0; left > 0 && k < byRemainder.length; k++, left--) out[byRemainder[k].i]++;
  // Minimum cells may overshoot: take them back from the largest.
  while (left < 0) {
    const i = out.indexOf(Math.max(...out));
    out[i]--;
    left++;
  }
  return out;
}

export function textBar(b: MemoryBar, width = 30): string {
  const n = cells(b.segments.map((s) => s.mb), width);
  return b.segments.map((s, i) => GLYPH[s.kind].repeat(n[i])).join('');
}

/** Inline markdown stays text: emphasis, code, links, HTML and tables need their marks escaped. */
export function escapeMd(s: string): string {
  return s.replace(/([\\`*_[\]<>|~])/g, '\\$1');
}

/** The GPU row's tooltip (markdown, untrusted): heading, the bar, and one line per holder. */
export function memoryTooltip(b: MemoryBar): string {
  const lines = [
    `**GPU ${b.gpu}** · ${escapeMd(b.name)} · ${usedOfTotal(b)}${b.totalMb !== undefined ? ` (${mb(Math.max(0, b.totalMb - b.usedMb))} free)` : ''}`,
    '',
    '`' + textBar(b) + '`',
    '',
    ...b.segments.map((s) => `- \`${GLYPH[s.kind]}\` ${escapeMd(segmentText(s))}`),
    ...(b.note ? ['', escapeMd(b.note)] : []),
    '',
    'Click for the chart (gpumod: Show GPU Memory).',
  ];
  return lines.join('\n');
}
