// A reader of the Prometheus text exposition format (what vLLM serves on /metrics), written for
// untrusted input: one pass over the text, line by line, no regular expressions over the body,
// and at most MAX_METRIC_LINES lines looked at, so any answer costs time linear in its size.

export interface Sample {
  name: string;
  labels: ReadonlyMap<string, string>;
  value: number;
}

/** A real vLLM exports a few thousand lines; a body past this many is not read further. */
export const MAX_METRIC_LINES = 100_000;

const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t';
}

/** The index of the `"` closing a label value that starts at `from`, or -1. */
function closingQuote(line: string, from: number): number {
  for (let j = from; j < line.length; j++) {
    const c = line.charCodeAt(j);
    if (c === 0x5c) j++;
    else if (c === 0x22) return j;
  }
  return -1;
}

function unescapeValue(raw: string): string {
  return raw.includes('\\') ? raw.replace(/\\(.)/gs, (_, c: string) => (c === 'n' ? '\n' : c)) : raw;
}

/** `{a="x",b="y\"z"}` from `line[at]` (the `{`); the labels and the index after `}`, or undefined when malformed. */
function readLabels(line: string, at: number): { labels: Map<string, string>; end: number } | undefined {
  const labels = new Map<string, string>();
  let i = at + 1;
  for (;;) {
    while (i < line.length && (isSpace(line[i]) || line[i] === ',')) i++;
    if (i >= line.length) return undefined;
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq === -1 || line[eq + 1] !== '"') return undefined;
    const name = line.slice(i, eq).trim();
    if (!LABEL_NAME.test(name)) return undefined;
    const end = closingQuote(line, eq + 2);
    if (end === -1) return undefined;
    labels.set(name, unescapeValue(line.slice(eq + 2, end)));
    i = end + 1;
  }
}

function parseValue(token: string): number | undefined {
  if (!VALUE.test(token)) return undefined;
  return token.endsWith('Inf') ? (token.startsWith('-') ? -Infinity : Infinity) : Number(token);
}

/** One sample line (`name{labels} value [timestamp]`) if its name is wanted and it is well formed. */
function readLine(line: string, wanted: ReadonlySet<string>): Sample | undefined {
  let i = 0;
  while (i < line.length && line[i] !== '{' && !isSpace(line[i])) i++;
  const name = line.slice(0, i);
  if (!wanted.has(name)) return undefined;
  let labels = new Map<string, string>();
  if (line[i] === '{') {
    const l = readLabels(line, i);
    if (!l) return undefined;
    ({ labels, end: i } = l);
  }
  const rest = line.slice(i).trim().split(/[ \t]+/);
  if (rest.length < 1 || rest.length > 2) return undefined;
  const value = parseValue(rest[0]);
  return value === undefined ? undefined : { name, labels, value };
}

/** The samples of the metrics named in `names`, in order; comments, other metrics and malformed lines skipped. */
export function readSamples(text: string, names: readonly string[], maxLines = MAX_METRIC_LINES): Sample[] {
  const wanted = new Set(names);
  const out: Sample[] = [];
  let start = 0;
  for (let n = 0; n < maxLines && start < text.length; n++) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    if (line === '' || line[0] === '#') continue;
    const s = readLine(line, wanted);
    if (s) out.push(s);
  }
  return out;
}
