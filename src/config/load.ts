import { isAlias, isMap, isPair, isSeq, LineCounter, parseDocument, visit, type Alias, type Document, type Node } from 'yaml';
import { readRegularFile } from '../system/regularFile';
import { alternativesOf, areAlternatives } from './alternatives';
import { canonicalHost, isAllowedHost } from './hosts';
import { checkSchema, show, type JsonPath } from './schemaCheck';
import { DEFAULT_GATEWAY_PORT, formatProblem, type Config, type ConfigProblem, type DriverKind, type HookRequest, type ModeConfig, type ServiceConfig, type SleepMode } from './types';

export type ParseResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

/** Bounds alias expansion: a "billion laughs" file is refused, not expanded. */
const MAX_ALIAS_COUNT = 200;
/** Values that aliases may add to a file, all aliases together. */
const MAX_ALIAS_VALUES = 10_000;
/** Files above this are refused before parsing: a config is a few KB. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads and validates a config file. Never throws for a bad file: problems are returned. */
export async function loadConfig(file: string): Promise<ParseResult> {
  let text: string;
  try {
    const buf = await readRegularFile(file, { maxBytes: MAX_CONFIG_BYTES });
    if (buf.length > MAX_CONFIG_BYTES) {
      return fail(file, 1, 1, `file is ${buf.length} bytes; a gpumod config is at most ${MAX_CONFIG_BYTES}`);
    }
    text = buf.toString('utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    return fail(file, 1, 1, `cannot read the config: ${why}`);
  }
  return parseConfig(text, file);
}

function fail(file: string, line: number, col: number, message: string): ParseResult {
  return { ok: false, problems: [{ file, line, col, message }] };
}

/** Validates config text completely; either every problem or a whole Config, never a partial one. */
export function parseConfig(text: string, file: string): ParseResult {
  if (text.includes('\u0000')) return fail(file, 1, 1, 'the file contains NUL bytes: expected YAML text');
  const deep = tooDeep(text);
  if (deep) return fail(file, deep.line, deep.col, deep.message);
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, uniqueKeys: true, merge: true, prettyErrors: false, strict: true });
  } catch (e) {
    return fail(file, 1, 1, `cannot parse YAML: ${(e as Error).message}`);
  }
  const at = (offset: number): { line: number; col: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({ file, ...at(e.pos[0]), message: yamlMessage(doc, e.code, e.message, e.pos[0]) })),
    };
  }
  const bomb = aliasBomb(doc);
  if (bomb.over) {
    const where = at(bomb.over.range?.[0] ?? 0);
    return fail(file, where.line, where.col, `alias *${bomb.over.source} takes the file past ${MAX_ALIAS_VALUES} values: refused without expanding it`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const where = at(bomb.first?.range?.[0] ?? 0);
    return fail(file, where.line, where.col, `cannot expand the YAML: ${(e as Error).message}`);
  }
  const locate = (path: JsonPath, atKey: boolean): { line: number; col: number } => at(offsetOf(doc, path, atKey));
  // Schema and cross-reference problems are reported together, so one run shows everything to fix.
  const schemaProblems = checkSchema(value);
  // A value the schema already refuses is not also reported by the cross-reference checks.
  const refused = new Set(schemaProblems.map((p) => JSON.stringify(p.path)));
  const semantic = checkSemantics(value).filter((p) => !refused.has(JSON.stringify(p.path)));
  const found = [...schemaProblems, ...semantic.map((p) => ({ ...p, atKey: false }))];
  if (found.length > 0) {
    const problems = found.map((p) => ({ file, ...locate(p.path, p.atKey), message: p.message }));
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    return { ok: false, problems };
  }
  return { ok: true, config: normalise(value as RawConfig, file) };
}

const MAX_DEPTH = 64;
/** Brackets nested past this are refused even inside quotes or comments: the YAML parser runs out of memory near 10,000. */
const MAX_RAW_DEPTH = MAX_DEPTH * 4;

/** Characters after which a quote opens a quoted scalar (else it is part of a plain one: `it's`). */
const SCALAR_START = new Set(['', '[', '{', ',', ':', '-', '?']);

type Located = { line: number; col: number; message: string };

/**
 * Finds flow brackets or indentation nested past MAX_DEPTH, which the YAML parser takes seconds (and
 * past a few thousand levels, all its memory) on. Skips comments and quoted scalars; every bracket
 * counts towards MAX_RAW_DEPTH, so a misread quote can never switch the guard off.
 */
function tooDeep(text: string): Located | undefined {
  const deep = (line: number, col: number): Located => ({ line, col, message: `nesting deeper than ${MAX_DEPTH} levels: a gpumod config is at most 5 deep` });
  let depth = 0;
  let raw = 0;
  let line = 1;
  let col = 0;
  let quote = '';
  let escaped = false;
  let comment = false;
  let lineStart = true;
  let indent = 0;
  let prev = ''; // the previous character on this line
  let prevToken = ''; // the previous non-blank character on this line
  for (const ch of text) {
    col++;
    if (ch === '\n') {
      line++;
      col = 0;
      lineStart = true;
      indent = 0;
      comment = false;
      prev = prevToken = '';
      continue;
    }
    if (lineStart && ch === ' ') {
      if (++indent > MAX_DEPTH * 4) return deep(line, col);
      continue;
    }
    lineStart = false;
    if (ch === '[' || ch === '{') {
      if (++raw > MAX_RAW_DEPTH) return { line, col, message: `more than ${MAX_RAW_DEPTH} nested brackets (in quotes and comments too): a gpumod config is at most 5 deep` };
    } else if (ch === ']' || ch === '}') {
      raw = Math.max(0, raw - 1);
    }
    if (comment) continue;
    if (quote) {
      if (escaped) escaped = false;
      else if (quote === '"' && ch === '\\') escaped = true;
      else if (ch === quote) quote = '';
    } else if (ch === '#' && (prev === '' || prev === ' ' || prev === '\t')) {
      comment = true;
    } else if ((ch === '"' || ch === "'") && SCALAR_START.has(prevToken)) {
      quote = ch;
    } else if (ch === '[' || ch === '{') {
      if (++depth > MAX_DEPTH) return deep(line, col);
    } else if (ch === ']' || ch === '}') {
      depth = Math.max(0, depth - 1);
    }
    prev = ch;
    if (ch !== ' ' && ch !== '\t') prevToken = ch;
  }
  return undefined;
}

/** The parser's message, naming the key when it is a duplicate. */
function yamlMessage(doc: Document.Parsed, code: string, message: string, offset: number): string {
  if (code !== 'DUPLICATE_KEY') return firstLine(message);
  // The error points at the key, or at its anchor or tag: the first key starting there or after.
  let key: { start: number; value: unknown } | undefined;
  visit(doc, {
    Pair(_k, pair) {
      const start = (pair.key as Node | null)?.range?.[0];
      if (start === undefined || start < offset || (key && key.start <= start)) return;
      key = { start, value: (pair.key as { value?: unknown }).value ?? pair.key };
    },
  });
  const name = key && (typeof key.value === 'string' || typeof key.value === 'number') ? ` ${show(key.value)}` : '';
  return `duplicate key${name}: a key appears once per mapping`;
}

/**
 * Walks the aliases in file order, adding up the values each expands to: `over` is the alias that
 * takes the total past MAX_ALIAS_VALUES (where a "billion laughs" file is located), `first` the first.
 */
function aliasBomb(doc: Document.Parsed): { over?: Alias; first?: Alias } {
  const sizes = new Map<unknown, number>();
  const size = (node: unknown, open: Set<unknown>): number => {
    if (isAlias(node)) {
      const target = node.resolve(doc);
      return target === undefined || open.has(target) ? Infinity : size(target, open);
    }
    if (!isMap(node) && !isSeq(node)) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    open.add(node);
    let n = 1;
    for (const item of node.items as unknown[]) n += isPair(item) ? size(item.key, open) + size(item.value, open) : size(item, open);
    open.delete(node);
    sizes.set(node, n);
    return n;
  };
  const found: { over?: Alias; first?: Alias } = {};
  let total = 0;
  visit(doc, {
    Alias(_key, node) {
      found.first ??= node;
      total += size(node, new Set());
      if (total <= MAX_ALIAS_VALUES) return undefined;
      found.over = node;
      return visit.BREAK;
    },
  });
  return found;
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** The offset of the node at `path`, or of its nearest ancestor present in the source (merge keys, aliases). */
function offsetOf(doc: Document.Parsed, path: JsonPath, atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  const keyOf = (p: { key: unknown }): string => {
    const v = (p.key as { value?: unknown } | null)?.value ?? p.key;
    return typeof v === 'symbol' ? (v.description ?? '') : String(v); // a merge key's value is Symbol(<<)
  };
  for (let i = 0; i < path.length; i++) {
    // A value reached through an alias is reported where the alias is written, not at its anchor.
    if (isAlias(node)) return offset;
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => keyOf(p) === String(seg)) ?? node.items.find((p) => keyOf(p) === '<<');
      if (!pair) return offset;
      if (keyOf(pair) === '<<' && String(seg) !== '<<') return (pair.value as Node | null)?.range?.[0] ?? offset;
      const last = i === path.length - 1;
      const keyNode = pair.key as Node | null;
      if (last && atKey && keyNode?.range) return keyNode.range[0];
      node = pair.value ?? keyNode;
      offset = (node as Node | null)?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
    } else if (isSeq(node) && /^\d+$/.test(String(seg))) {
      node = node.items[Number(seg)];
      offset = (node as Node | null)?.range?.[0] ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

interface RawService {
  driver: DriverKind;
  unit: string;
  host?: string;
  port: number;
  vram_mb?: number;
  sleep?: string | { sleep: string; wake: string; probe: string };
  sleep_vram_mb?: number;
  sleep_ram_mb?: number;
  model?: string;
  health_path?: string;
  readiness?: { method?: 'GET' | 'POST'; path: string; body?: unknown };
  startup_timeout_s?: number;
  wake_timeout_s?: number;
  sleep_timeout_s?: number;
  stop_timeout_s?: number;
  gpu?: number;
  gpus?: number[];
  description?: string;
  serves?: string[];
  idle_sleep_s?: number;
}

interface RawConfig {
  version?: number;
  allowed_hosts?: string[];
  budget?: { margin_mb?: number; gpu_total_mb?: number; host_ram_mb?: number };
  gateway?: { port?: number; token?: string; idle_sleep_s?: number };
  services: Record<string, RawService>;
  modes: Record<string, { services: string[]; description?: string }>;
}

interface PathProblem {
  path: JsonPath;
  message: string;
}

/** Which sleep settings each driver can honour. */
const SLEEP_BY_DRIVER = new Map<string, string[]>([
  ['vllm', ['none', 'l1', 'l2']],
  ['llamacpp', ['router', 'none']],
  ['http', ['hooks', 'none']],
  ['systemd', ['none']],
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const entriesOf = (v: unknown): [string, unknown][] => (isRecord(v) ? Object.entries(v) : []);

/**
 * Cross-references the schema cannot express. Runs on unvalidated input (so every problem shows in one
 * pass): anything of the wrong shape is skipped here, the schema reports it.
 */
function checkSemantics(value: unknown): PathProblem[] {
  const out: PathProblem[] = [];
  if (!isRecord(value)) return out;
  const hosts = Array.isArray(value.allowed_hosts) ? value.allowed_hosts : [];
  hosts.forEach((h: unknown, i: number) => {
    if (typeof h === 'string' && canonicalHost(h) === undefined) out.push({ path: ['allowed_hosts', i], message: notAHost('allowed_hosts entry', h) });
  });
  const allowed = hosts.filter((h): h is string => typeof h === 'string');
  const services = new Map<string, RawService>();
  for (const [name, svcValue] of entriesOf(value.services)) {
    if (!isRecord(svcValue) || typeof svcValue.driver !== 'string' || !SLEEP_BY_DRIVER.has(svcValue.driver)) continue;
    const svc = svcValue as unknown as RawService;
    services.set(name, svc);
    out.push(...checkService(name, svc, allowed));
  }
  for (const [mode, m] of entriesOf(value.modes)) {
    if (isRecord(m) && Array.isArray(m.services)) out.push(...checkMode(mode, m.services, isRecord(value.services) ? value.services : {}, services));
  }
  out.push(...checkServedNames(services));
  return out;
}

/** A model name the gateway routes must lead to one service. */
function checkServedNames(services: Map<string, RawService>): PathProblem[] {
  const out: PathProblem[] = [];
  const owner = new Map<string, string>();
  for (const [name, svc] of services) {
    const serves = Array.isArray(svc.serves) ? svc.serves : [];
    serves.forEach((m: unknown, i: number) => {
      if (typeof m !== 'string') return;
      const other = owner.get(m);
      if (other !== undefined && other !== name) out.push({ path: ['services', name, 'serves', i], message: `model name ${show(m)} is already served by "${other}": a request naming it must lead to one service` });
      else owner.set(m, name);
    });
  }
  return out;
}

function notAHost(what: string, host: string): string {
  return `${what} ${show(host)} is not a host name or IP address a URL can carry (IPv4 as four numbers 0-255, IPv6 with or without brackets)`;
}

function checkService(name: string, svc: RawService, allowed: string[]): PathProblem[] {
  const out: PathProblem[] = [];
  const base = ['services', name];
  const host = typeof svc.host === 'string' ? svc.host : '127.0.0.1';
  if (canonicalHost(host) === undefined) {
    out.push({ path: [...base, 'host'], message: notAHost('host', host) });
  } else if (!isAllowedHost(host, allowed)) {
    out.push({
      path: [...base, 'host'],
      message: `host ${show(host)} is not loopback: vLLM's sleep endpoints are unauthenticated, so list it in allowed_hosts to opt in`,
    });
  }
  const sleep = sleepOf(svc);
  const fits = SLEEP_BY_DRIVER.get(svc.driver) ?? [];
  const knownSleep = ['none', 'l1', 'l2', 'router', 'hooks'].includes(sleep); // else the schema reports it
  if (knownSleep && !fits.includes(sleep)) {
    const expected = fits.map((s) => (s === 'hooks' ? 'a hooks mapping' : `"${s}"`)).join(' or ');
    out.push({
      path: [...base, svc.sleep === undefined ? 'driver' : 'sleep'],
      message: `sleep ${typeof svc.sleep === 'object' ? 'hooks' : show(sleep)} is not valid for driver "${svc.driver}" (expected ${expected})`,
    });
  }
  if (svc.driver === 'llamacpp' && svc.model === undefined) {
    out.push({ path: [...base, 'driver'], message: `service "${name}": driver "llamacpp" needs "model", the router's model name` });
  }
  if (svc.driver !== 'llamacpp' && svc.model !== undefined) {
    out.push({ path: [...base, 'model'], message: `"model" applies to driver "llamacpp" only, not "${svc.driver}"` });
  }
  if (svc.gpu !== undefined && svc.gpus !== undefined) {
    out.push({ path: [...base, 'gpus'], message: `service "${name}" gives both gpu and gpus: gpu names its one card, gpus the cards it spreads over; keep one` });
  }
  if (typeof svc.sleep_vram_mb === 'number' && typeof svc.vram_mb === 'number' && svc.sleep_vram_mb > svc.vram_mb) {
    out.push({ path: [...base, 'sleep_vram_mb'], message: `sleep_vram_mb ${svc.sleep_vram_mb} exceeds vram_mb ${svc.vram_mb}` });
  }
  return out;
}

/** A mode's entries: configured, listed once, and never two alternatives for one port (they cannot run together). */
function checkMode(mode: string, listed: unknown[], configured: Record<string, unknown>, services: Map<string, RawService>): PathProblem[] {
  const out: PathProblem[] = [];
  const seen = new Set<string>();
  listed.forEach((s: unknown, i: number) => {
    if (typeof s !== 'string') return;
    const path = ['modes', mode, 'services', i];
    if (!Object.hasOwn(configured, s)) {
      const known = Object.keys(configured).join(', ') || 'none';
      out.push({ path, message: `mode "${mode}" names unknown service ${show(s)} (configured: ${known})` });
    } else if (seen.has(s)) {
      out.push({ path, message: `mode "${mode}" lists service ${show(s)} twice` });
    } else {
      const mate = [...seen].find((o) => sharesSocket(services.get(s), services.get(o)));
      const svc = services.get(s);
      if (mate && svc) {
        out.push({
          path,
          message: `mode "${mode}" names "${mate}" and "${s}", which both listen on ${svc.host ?? '127.0.0.1'}:${svc.port}: services on one port are alternatives, one runs at a time`,
        });
      }
    }
    seen.add(s);
  });
  return out;
}

function sharesSocket(a: RawService | undefined, b: RawService | undefined): boolean {
  if (!a || !b || typeof a.port !== 'number' || typeof b.port !== 'number' || typeof a.unit !== 'string' || typeof b.unit !== 'string') return false;
  return areAlternatives({ ...a, host: typeof a.host === 'string' ? a.host : '127.0.0.1' }, { ...b, host: typeof b.host === 'string' ? b.host : '127.0.0.1' });
}

function sleepOf(svc: RawService): SleepMode {
  if (typeof svc.sleep === 'object' && svc.sleep !== null) return 'hooks';
  if (typeof svc.sleep === 'string') return svc.sleep as SleepMode;
  return svc.driver === 'llamacpp' ? 'router' : 'none';
}

function hook(spec: string): HookRequest {
  const [method, path] = spec.split(' ');
  return { method: method as HookRequest['method'], path };
}

/** Residue left on the GPU while asleep when the config does not say: measured figures, see README. */
function defaultSleepVram(sleep: SleepMode, vramMb: number | undefined): number {
  const residue: Record<SleepMode, number> = { none: 0, l1: 2600, l2: 2600, router: 300, hooks: 500 };
  return Math.min(vramMb ?? residue[sleep], residue[sleep]);
}

const seconds = (s: number | undefined, dflt: number): number => Math.round((s ?? dflt) * 1000);

function normalise(raw: RawConfig, file: string): Config {
  const services = new Map<string, ServiceConfig>();
  for (const [name, svc] of Object.entries(raw.services)) {
    const sleep = sleepOf(svc);
    const sleepVramMb = svc.sleep_vram_mb ?? defaultSleepVram(sleep, svc.vram_mb);
    const undeclared = (['vram_mb', 'sleep_vram_mb', 'sleep_ram_mb'] as const).filter((k) => svc[k] === undefined);
    const hooks = typeof svc.sleep === 'object' ? { sleep: hook(svc.sleep.sleep), wake: hook(svc.sleep.wake), probe: hook(svc.sleep.probe) } : undefined;
    services.set(name, {
      name,
      driver: svc.driver,
      unit: svc.unit,
      host: svc.host ?? '127.0.0.1',
      port: svc.port,
      vramMb: svc.vram_mb ?? 0,
      sleep,
      sleepVramMb,
      sleepRamMb: svc.sleep_ram_mb ?? (sleep === 'l1' ? Math.max(0, (svc.vram_mb ?? 0) - sleepVramMb) : 0),
      ...(undeclared.length > 0 ? { undeclared: [...undeclared] } : {}),
      hooks,
      model: svc.model,
      serves: [...new Set([...(svc.serves ?? []), ...(svc.model ? [svc.model] : [])])],
      ...idleSleep(svc.idle_sleep_s ?? raw.gateway?.idle_sleep_s),
      startupTimeoutMs: seconds(svc.startup_timeout_s, 300),
      wakeTimeoutMs: seconds(svc.wake_timeout_s, 120),
      sleepTimeoutMs: seconds(svc.sleep_timeout_s, 60),
      stopTimeoutMs: seconds(svc.stop_timeout_s, 90),
      healthPath: svc.health_path ?? '/health',
      readiness: svc.readiness ? { method: svc.readiness.method ?? 'POST', path: svc.readiness.path, body: svc.readiness.body } : undefined,
      gpu: svc.gpus?.[0] ?? svc.gpu ?? 0,
      gpus: svc.gpus ? [...svc.gpus] : [svc.gpu ?? 0],
      description: svc.description,
      alternatives: [],
    });
  }
  for (const svc of services.values()) svc.alternatives = alternativesOf({ services }, svc.name);
  const modes = new Map<string, ModeConfig>();
  for (const [name, m] of Object.entries(raw.modes)) {
    modes.set(name, { name, services: [...m.services], description: m.description });
  }
  return {
    path: file,
    services,
    modes,
    budget: {
      marginMb: raw.budget?.margin_mb ?? 512,
      gpuTotalMb: raw.budget?.gpu_total_mb ?? 0,
      hostRamMb: raw.budget?.host_ram_mb ?? 0,
    },
    allowedHosts: raw.allowed_hosts ?? [],
    // Absent when the file has no gateway section: the editor then shows a gateway only if one answers.
    ...(raw.gateway ? { gateway: { port: raw.gateway.port ?? DEFAULT_GATEWAY_PORT, ...(raw.gateway.token ? { token: raw.gateway.token } : {}) } } : {}),
  };
}

/** 0 (or nothing) means never. */
function idleSleep(s: number | undefined): { idleSleepMs?: number } {
  return s ? { idleSleepMs: Math.round(s * 1000) } : {};
}

/** All problems as `FILE:LINE:COL: message` lines. */
export function formatProblems(problems: ConfigProblem[]): string {
  return problems.map(formatProblem).join('\n');
}
