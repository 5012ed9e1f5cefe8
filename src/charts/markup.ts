/**
 * Everything a chart prints is escaped: service names come from the user's config, errors from
 * servers, and a chart is HTML. Text and attribute values alike go through `esc`.
 */
export function esc(value: string | number): string {
  return String(value).replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `data-…`/`class`/`x` attributes from a record; undefined and false values are left out. */
export function attrs(a: Record<string, string | number | boolean | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined && v !== false)
    .map(([k, v]) => (v === true ? ` ${k}` : ` ${k}="${esc(v as string | number)}"`))
    .join('');
}

/** A percentage for an SVG length (x="12.5%"), clamped to the track. */
export function pct(part: number, whole: number): string {
  const p = whole > 0 ? (part / whole) * 100 : 0;
  return `${Math.min(100, Math.max(0, p)).toFixed(3)}%`;
}
