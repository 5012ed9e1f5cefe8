import { readRegularFile } from '../system/regularFile';
import { isAlias, isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import schemaJson from '../../schemas/gpumod.schema.json';
import { show, SchemaChecker, type JsonPath, type Schema } from './schemaCheck';
import { formatProblem, type Config, type ConfigProblem, type DriverKind, type HookRequest, type ModeConfig, type ServiceConfig, type SleepMode } from './types';

export type ParseResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

const checker = new SchemaChecker(schemaJson as Schema);
/** Bounds alias expansion: a "billion laughs" file is refused, not expanded. */
const MAX_ALIAS_COUNT = 200;
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
  if (deep) return fail(file, deep.line, deep.col, `nesting deeper than ${MAX_DEPTH} levels: a gpumod config is at most 5 deep`);
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
      problems: doc.errors.map((e) => ({ file, ...at(e.pos[0]), message: firstLine(e.message) })),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    return fail(file, 1, 1, `cannot expand the YAML: ${(e as Error).message}`);
  }
  const locate = (path: JsonPath, atKey: boolean): { line: number; col: number } => at(offsetOf(doc, path, atKey));
  // Schema and cross-reference problems are reported together, so one run shows everything to fix.
  const found = [...checker.check(value), ...checkSemantics(value).map((p) => ({ ...p, atKey: false }))];
  if (found.length > 0) {
    const problems = found.map((p) => ({ file, ...locate(p.path, p.atKey), message: p.message }));
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    return { ok: false, problems };
  }
  return { ok: true, config: normalise(value as RawConfig, file) };
}

const MAX_DEPTH = 64;

/** Finds flow brackets or indentation nested past MAX_DEPTH, which the YAML parser takes seconds on. */
function tooDeep(text: string): { line: number; col: number } | undefined {
  let depth = 0;
  let line = 1;
  let col = 0;
  let quote = '';
  let lineStart = true;
  let indent = 0;
  for (const ch of text) {
    col++;
    if (ch === '\n') {
      line++;
      col = 0;
      lineStart = true;
      indent = 0;
      continue;
    }
    if (lineStart && ch === ' ') {
      if (++indent > MAX_DEPTH * 4) return { line, col };
      continue;
    }
    lineStart = false;
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '[' || ch === '{') {
      if (++depth > MAX_DEPTH) return { line, col };
    } else if (ch === ']' || ch === '}') {
      depth = Math.max(0, depth - 1);
    }
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** The offset of the node at `path`, or of its nearest ancestor present in the source (merge keys, aliases). */
function offsetOf(doc: Document.Parsed, path: JsonPath, atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(seg));
      if (!pair) return offset;
      const last = i === path.length - 1;
      const keyNode = pair.key as Node | null;
      if (last && atKey && keyNode?.range) return keyNode.range[0];
      node = pair.value ?? keyNode;
      offset = (node as Node | null)?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
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
  vram_mb: number;
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
  description?: string;
}

interface RawConfig {
  version?: number;
  allowed_hosts?: string[];
  budget?: { margin_mb?: number; gpu_total_mb?: number; host_ram_mb?: number };
  services: Record<string, RawService>;
  modes: Record<string, { services: string[]; description?: string }>;
}

interface PathProblem {
  path: JsonPath;
  message: string;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|::1|\[::1\])$/i;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Which sleep settings each driver can honour. */
const SLEEP_BY_DRIVER: Record<DriverKind, string[]> = {
  vllm: ['none', 'l1', 'l2'],
  llamacpp: ['router', 'none'],
  http: ['hooks', 'none'],
  systemd: ['none'],
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Cross-references the schema cannot express. Runs on unvalidated input (so every problem shows in one
 * pass): anything of the wrong shape is skipped here, the schema reports it.
 */
function checkSemantics(value: unknown): PathProblem[] {
  const out: PathProblem[] = [];
  if (!isRecord(value)) return out;
  const services = isRecord(value.services) ? (value.services as Record<string, unknown>) : {};
  const modes = isRecord(value.modes) ? value.modes : {};
  const hosts = Array.isArray(value.allowed_hosts) ? value.allowed_hosts.filter((h): h is string => typeof h === 'string') : [];
  const allowed = new Set(hosts.map((h) => h.toLowerCase()));
  const endpoints = new Map<string, { name: string; svc: RawService }>();
  for (const [name, svcValue] of Object.entries(services)) {
    if (!isRecord(svcValue) || typeof svcValue.driver !== 'string' || !(svcValue.driver in SLEEP_BY_DRIVER)) continue;
    const svc = svcValue as unknown as RawService;
    const base = ['services', name];
    const host = typeof svc.host === 'string' ? svc.host : '127.0.0.1';
    if (!isLoopback(host) && !allowed.has(host.toLowerCase())) {
      out.push({
        path: [...base, 'host'],
        message: `host ${show(host)} is not loopback: vLLM's sleep endpoints are unauthenticated, so list it in allowed_hosts to opt in`,
      });
    }
    const key = `${host.toLowerCase()}:${String(svc.port)}`;
    const other = typeof svc.port === 'number' ? endpoints.get(key) : undefined;
    // Two models of one llama.cpp router share its unit and port; anything else sharing a port is a mistake.
    const sameRouter = other && other.svc.driver === 'llamacpp' && svc.driver === 'llamacpp' && other.svc.unit === svc.unit;
    if (other && !sameRouter) {
      out.push({ path: [...base, 'port'], message: `port ${svc.port} is already used by service "${other.name}"` });
    } else if (!other && typeof svc.port === 'number') {
      endpoints.set(key, { name, svc });
    }
    const sleep = sleepOf(svc);
    const knownSleep = ['none', 'l1', 'l2', 'router', 'hooks'].includes(sleep); // else the schema reports it
    if (knownSleep && !SLEEP_BY_DRIVER[svc.driver].includes(sleep)) {
      const expected = SLEEP_BY_DRIVER[svc.driver].map((s) => (s === 'hooks' ? 'a hooks mapping' : `"${s}"`)).join(' or ');
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
    if (typeof svc.sleep_vram_mb === 'number' && typeof svc.vram_mb === 'number' && svc.sleep_vram_mb > svc.vram_mb) {
      out.push({ path: [...base, 'sleep_vram_mb'], message: `sleep_vram_mb ${svc.sleep_vram_mb} exceeds vram_mb ${svc.vram_mb}` });
    }
  }
  for (const [mode, m] of Object.entries(modes)) {
    if (!isRecord(m) || !Array.isArray(m.services)) continue;
    const seen = new Set<string>();
    m.services.forEach((s: unknown, i: number) => {
      if (typeof s !== 'string') return;
      const path = ['modes', mode, 'services', i];
      if (!Object.hasOwn(services, s)) {
        const known = Object.keys(services).join(', ') || 'none';
        out.push({ path, message: `mode "${mode}" names unknown service ${show(s)} (configured: ${known})` });
      } else if (seen.has(s)) {
        out.push({ path, message: `mode "${mode}" lists service ${show(s)} twice` });
      }
      seen.add(s);
    });
  }
  return out;
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
function defaultSleepVram(sleep: SleepMode, vramMb: number): number {
  const residue: Record<SleepMode, number> = { none: 0, l1: 2600, l2: 2600, router: 300, hooks: 500 };
  return Math.min(vramMb, residue[sleep]);
}

const seconds = (s: number | undefined, dflt: number): number => Math.round((s ?? dflt) * 1000);

function normalise(raw: RawConfig, file: string): Config {
  const services = new Map<string, ServiceConfig>();
  for (const [name, svc] of Object.entries(raw.services)) {
    const sleep = sleepOf(svc);
    const sleepVramMb = svc.sleep_vram_mb ?? defaultSleepVram(sleep, svc.vram_mb);
    const hooks = typeof svc.sleep === 'object' ? { sleep: hook(svc.sleep.sleep), wake: hook(svc.sleep.wake), probe: hook(svc.sleep.probe) } : undefined;
    services.set(name, {
      name,
      driver: svc.driver,
      unit: svc.unit,
      host: svc.host ?? '127.0.0.1',
      port: svc.port,
      vramMb: svc.vram_mb,
      sleep,
      sleepVramMb,
      sleepRamMb: svc.sleep_ram_mb ?? (sleep === 'l1' ? Math.max(0, svc.vram_mb - sleepVramMb) : 0),
      hooks,
      model: svc.model,
      startupTimeoutMs: seconds(svc.startup_timeout_s, 300),
      wakeTimeoutMs: seconds(svc.wake_timeout_s, 120),
      sleepTimeoutMs: seconds(svc.sleep_timeout_s, 60),
      stopTimeoutMs: seconds(svc.stop_timeout_s, 90),
      healthPath: svc.health_path ?? '/health',
      readiness: svc.readiness ? { method: svc.readiness.method ?? 'POST', path: svc.readiness.path, body: svc.readiness.body } : undefined,
      gpu: svc.gpu ?? 0,
      description: svc.description,
    });
  }
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
  };
}

/** All problems as `FILE:LINE:COL: message` lines. */
export function formatProblems(problems: ConfigProblem[]): string {
  return problems.map(formatProblem).join('\n');
}
