// A reader for the charts' own markup (no DOM in unit tests): elements by tag and attribute, their
// attributes decoded, and whether any markup escaped its attribute or text.

export interface El {
  tag: string;
  attrs: Record<string, string>;
  /** From the start tag to the end of the document: enough to look inside for the first matches. */
  rest: string;
}

export function decode(s: string): string {
  return s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&');
}

/** Every start tag `<tag …>`, optionally only those with attribute `attr` (equal to `value`). */
export function elements(html: string, tag: string, attr?: string, value?: string): El[] {
  const out: El[] = [];
  const re = new RegExp(`<${tag}((?:\\s+[a-zA-Z:-]+(?:="[^"]*")?)*)\\s*/?>`, 'g');
  for (const m of html.matchAll(re)) {
    const attrs: Record<string, string> = {};
    for (const a of m[1].matchAll(/\s+([a-zA-Z:-]+)(?:="([^"]*)")?/g)) attrs[a[1]] = decode(a[2] ?? '');
    if (attr !== undefined && !(attr in attrs)) continue;
    if (value !== undefined && attrs[attr!] !== value) continue;
    out.push({ tag, attrs, rest: html.slice((m.index ?? 0) + m[0].length) });
  }
  return out;
}

/** The text of the cells of a table row starting at `rest` (up to its </tr>), decoded, tags stripped. */
export function cells(rest: string): string[] {
  const row = rest.slice(0, rest.indexOf('</tr>'));
  return [...row.matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((m) => decode(m[1].replace(/<[^>]*>/g, '')));
}

/** Start tags in `html` that a parser would see: any `<` followed by a letter. */
export function tagNames(html: string): Set<string> {
  return new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1].toLowerCase()));
}

/**
 * The attribute names of every start tag, and whether every start tag parsed as name="value" pairs:
 * an escape that failed shows as a tag that does not parse or as an `on…` attribute.
 */
export function attributeNames(html: string): { names: Set<string>; unparsed: string[] } {
  const names = new Set<string>();
  const unparsed: string[] = [];
  for (const m of html.matchAll(/<[a-zA-Z][^>]*>/g)) {
    const tag = m[0].match(/^<([a-zA-Z][\w-]*)((?:\s+[\w:-]+(?:="[^"]*")?)*)\s*\/?>$/);
    if (!tag) {
      unparsed.push(m[0]);
      continue;
    }
    for (const a of tag[2].matchAll(/\s+([\w:-]+)(?:="[^"]*")?/g)) names.add(a[1].toLowerCase());
  }
  return { names, unparsed };
}
