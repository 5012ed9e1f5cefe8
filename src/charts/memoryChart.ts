import { mb } from '../engine/budget';
import { attrs, esc, pct } from './markup';
import { isEstimate, type MemoryBar, type Segment } from './memoryModel';

/**
 * A GPU's memory as one stacked bar (SVG, sized in percent so it follows the panel's width) with a
 * table of the same segments under it. Declared figures are hatched and say "declared" in words;
 * colours come from classes the page's stylesheet maps to theme variables.
 */

const SOURCE_WORDS: Record<Segment['source'], string> = {
  observed: 'seen on the card now',
  measured: 'measured by gpumod earlier',
  declared: 'declared in the config',
  unknown: 'unknown (no vram_mb, not measured yet)',
};

export function segmentClass(s: Segment): string {
  const colour = s.colour !== undefined ? ` c${s.colour}` : '';
  return `seg kind-${s.kind}${colour}${isEstimate(s) ? ' src-declared' : ''}`;
}

/** What a segment says in words: "glm-code 20.0 GB awake (declared)". */
export function segmentText(s: Segment): string {
  const source = isEstimate(s) ? ` (${s.source})` : s.source === 'measured' ? ' (measured earlier)' : '';
  return `${s.label} ${mb(s.mb)}${s.state ? ` ${s.state}` : ''}${source}`;
}

/** "21.3/32.6 GB": used over total, or just used when the total is unknown. */
export function usedOfTotal(b: Pick<MemoryBar, 'usedMb' | 'totalMb'>): string {
  const gb = (n: number): string => (n / 1000).toFixed(1);
  return b.totalMb !== undefined ? `${gb(b.usedMb)}/${gb(b.totalMb)} GB` : `${gb(b.usedMb)} GB`;
}

function scaleOf(b: MemoryBar): number {
  return Math.max(1, b.totalMb ?? 0, b.segments.reduce((s, x) => s + x.mb, 0));
}

/** The bar itself; `id` keeps the hatch pattern's id unique on a page with several bars. */
export function memoryBarSvg(b: MemoryBar, id: string): string {
  const scale = scaleOf(b);
  const hatch = `hatch-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  let x = 0;
  const rects = b.segments
    .map((s) => {
      const at = x;
      x += s.mb;
      const a = { x: pct(at, scale), y: 0, width: pct(s.mb, scale), height: 28 };
      const overlay = isEstimate(s) ? `<rect class="hatch-overlay"${attrs({ ...a, fill: `url(#${hatch})` })}/>` : '';
      return (
        `<rect${attrs({ class: segmentClass(s), ...a, 'data-kind': s.kind, 'data-service': s.service, 'data-mb': Math.round(s.mb), 'data-source': s.source, 'data-state': s.state })}><title>${esc(segmentText(s))}</title></rect>` +
        overlay
      );
    })
    .join('');
  const total = b.totalMb !== undefined ? `<line class="card-end"${attrs({ x1: pct(b.totalMb, scale), x2: pct(b.totalMb, scale), y1: 0, y2: 28 })}/>` : '';
  return (
    `<svg class="membar" width="100%" height="28" focusable="false" aria-hidden="true">` +
    `<defs><pattern${attrs({ id: hatch, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' })}><line class="hatch" x1="0" y1="0" x2="0" y2="6"/></pattern></defs>` +
    rects +
    total +
    `</svg>`
  );
}

function legend(b: MemoryBar): string {
  return `<ul class="legend" aria-hidden="true">${b.segments
    .map((s) => `<li><svg width="22" height="12" focusable="false"><rect class="${segmentClass(s)}" x="1" y="1" width="20" height="10"/></svg>${esc(segmentText(s))}</li>`)
    .join('')}</ul>`;
}

/** The bar's text alternative: a row per segment with its figure and where the figure comes from. */
export function memoryTable(b: MemoryBar, opts: { id: string; caption: string }): string {
  const rows = b.segments
    .map(
      (s) =>
        `<tr${attrs({ 'data-kind': s.kind, 'data-service': s.service, 'data-mb': Math.round(s.mb), 'data-source': s.source })}><th scope="row">${esc(s.label)}</th><td>${esc(s.state ?? '')}</td><td class="num">${esc(mb(s.mb))}</td><td>${esc(SOURCE_WORDS[s.source])}</td></tr>`,
    )
    .join('');
  return `<table${attrs({ class: 'data mem-table', 'data-for': opts.id })}><caption>${esc(opts.caption)}</caption><thead><tr><th scope="col">Holder</th><th scope="col">State</th><th scope="col">Memory</th><th scope="col">Figure</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** One GPU's heading, bar, legend and note; its table comes separately (memoryTable). */
export function memoryFigure(b: MemoryBar, opts: { id: string; heading?: string; headingLevel?: 2 | 3 }): string {
  const heading = opts.heading ?? `GPU ${b.gpu} · ${b.name}`;
  const level = opts.headingLevel ?? 2;
  const label = `${heading}: ${usedOfTotal(b)} used. ${b.segments.map(segmentText).join('; ')}.`;
  return (
    `<figure${attrs({ class: 'memory', role: 'img', 'aria-label': label, 'data-id': opts.id, 'data-gpu': b.gpu, 'data-used-mb': Math.round(b.usedMb), 'data-total-mb': b.totalMb })}>` +
    `<h${level}>${esc(heading)} <span class="used">${esc(usedOfTotal(b))}</span></h${level}>` +
    memoryBarSvg(b, opts.id) +
    legend(b) +
    (b.note ? `<p class="note-text">${esc(b.note)}</p>` : '') +
    `</figure>`
  );
}

/** One GPU: the figure and, under it, the table (the bar's text alternative). */
export function memoryBarMarkup(b: MemoryBar, opts: { id: string; heading?: string; headingLevel?: 2 | 3 }): string {
  const heading = opts.heading ?? `GPU ${b.gpu} · ${b.name}`;
  return memoryFigure(b, opts) + memoryTable(b, { id: opts.id, caption: `${heading}: who holds the memory` });
}

/** The "Show GPU Memory" panel's content. */
export function memoryMarkup(bars: MemoryBar[], opts: { reason?: string } = {}): string {
  if (bars.length === 0) return `<section class="memory-view"><h1>GPU memory</h1><p class="empty">${esc(opts.reason ?? 'No GPU observed yet.')}</p></section>`;
  const about = `<p class="summary">As gpumod last observed the card; it follows every observation. Hatched: a figure declared in the config, not a measurement.</p>`;
  return `<section class="memory-view"><h1>GPU memory</h1>${about}${bars.map((b) => memoryBarMarkup(b, { id: `now-${b.gpu}` })).join('')}</section>`;
}
