import { Document, YAMLMap, type Scalar } from 'yaml';
import { areAlternatives } from './alternatives';
import { parseConfig } from './load';
import { checkSchema, show } from './schemaCheck';
import { formatProblem, type DriverKind } from './types';

/**
 * Converts the original (Python) gpumod's presets and modes into one gpumod.yaml. Pure: the CLI reads
 * the files. Presets may come from someone else's repository, so every value is checked against the
 * schema before it is written, the file is built as a YAML document (never by pasting text), and
 * notes become comments only with control characters removed. Everything that does not carry over
 * is reported; the result is validated by the same loader as any config.
 */

export interface SourceFile {
  /** Path shown in notes. */
  path: string;
  data: unknown;
}

export interface ImportResult {
  yaml: string;
  services: number;
  modes: number;
  /** What did not carry over or needs a look, one line each, naming the source file. */
  notes: string[];
  /** Presets or modes refused for a value gpumod would not accept, naming the file and the value. */
  refused: string[];
  /** Imported services that no mode names (e.g. alternatives for one port kept for later). */
  unused: string[];
  /** Problems the generated file still has (empty when it is valid). */
  problems: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Keys of a preset that map onto gpumod.yaml; any other key is reported as not carried over. */
const PRESET_KEYS = new Set(['id', 'name', 'driver', 'port', 'vram_mb', 'model_id', 'health_endpoint', 'startup_timeout', 'supports_sleep', 'sleep_mode', 'unit_vars', 'unit_name']);
const DRIVERS = new Map<string, DriverKind>([
  ['vllm', 'vllm'],
  ['llamacpp', 'llamacpp'],
  ['fastapi', 'systemd'],
  ['systemd', 'systemd'],
]);

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Text safe for a one-line YAML comment or a description: no line breaks or other control characters. */
export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

interface Converted {
  id: string;
  file: string;
  service: Rec;
  notes: string[];
}

/** The schema's verdict on one service or mode, as `FILE: problem` lines (empty when it is fine). */
function schemaVerdict(file: string, doc: Rec): string[] {
  return checkSchema(doc).map((p) => `${file}: ${p.message}`);
}

function convertPreset(file: SourceFile, notes: string[], refused: string[]): Converted | undefined {
  const p = file.data;
  const say = (text: string): void => void notes.push(`${file.path}: ${text}`);
  if (!isRec(p)) {
    say('not a mapping; skipped');
    return undefined;
  }
  const id = typeof p.id === 'string' ? p.id : undefined;
  if (!id || !NAME.test(id)) {
    refused.push(`${file.path}: id ${show(p.id)} is not a usable service name (letters, digits and _.-, starting with a letter or digit)`);
    return undefined;
  }
  const driverIn = typeof p.driver === 'string' ? p.driver : '';
  const driver = DRIVERS.get(driverIn);
  if (!driver) {
    say(`driver ${show(driverIn)} is not supported by gpumod for VS Code; ${id} skipped`);
    return undefined;
  }
  const own: string[] = [];
  const service: Rec = {
    driver,
    unit: typeof p.unit_name === 'string' ? (p.unit_name.endsWith('.service') ? p.unit_name : `${p.unit_name}.service`) : `gpumod-${id}.service`,
    port: p.port,
    vram_mb: p.vram_mb,
  };
  if (typeof p.name === 'string') service.description = oneLine(p.name, 200);
  const sleepMode = typeof p.sleep_mode === 'string' ? p.sleep_mode : 'none';
  const sleeps = p.supports_sleep !== false && sleepMode !== 'none';
  if (driver === 'vllm') {
    if (sleeps && (sleepMode === 'l1' || sleepMode === 'l2')) service.sleep = sleepMode;
    else if (sleeps) own.push(`sleep_mode ${show(sleepMode)} does not apply to vLLM; ${id} will be stopped instead of slept`);
  } else if (driver === 'llamacpp') {
    const vars = isRec(p.unit_vars) ? p.unit_vars : {};
    service.model = typeof vars.default_model === 'string' ? vars.default_model : id;
    if (typeof vars.default_model !== 'string') own.push(`no unit_vars.default_model; assumed the router names the model ${show(id)} (check with GET /models)`);
    if (!sleeps) service.sleep = 'none';
  } else if (sleeps) {
    own.push(`sleep_mode ${show(sleepMode)} on a FastAPI app: the original had no sleep for it; ${id} is start/stop only (give it driver: http and sleep hooks to sleep it)`);
  }
  if (typeof p.health_endpoint === 'string' && p.health_endpoint !== '/health') service.health_path = p.health_endpoint;
  if (typeof p.startup_timeout === 'number' && p.startup_timeout >= 1) service.startup_timeout_s = p.startup_timeout;
  const verdict = schemaVerdict(file.path, { services: Object.fromEntries([[id, service]]), modes: {} });
  if (verdict.length) {
    refused.push(...verdict.map((v) => `${v} (${id} not imported)`));
    return undefined;
  }
  const dropped = Object.keys(p).filter((k) => !PRESET_KEYS.has(k));
  if (dropped.length) own.push(`not carried over: ${dropped.map((k) => oneLine(k, 64)).join(', ')}`);
  if (isRec(p.unit_vars)) own.push(`unit_vars describe how the original wrote the unit file; gpumod uses the existing unit ${String(service.unit)}`);
  own.forEach(say);
  return { id, file: file.path, service, notes: own };
}

interface ModeOut {
  id: string;
  file: string;
  services: string[];
  description?: string;
}

function convertMode(f: SourceFile, converted: Map<string, Converted>, notes: string[], refused: string[]): ModeOut | undefined {
  const m = f.data;
  if (!isRec(m) || typeof m.id !== 'string' || !Array.isArray(m.services)) {
    notes.push(`${f.path}: not a mode (needs id and services); skipped`);
    return undefined;
  }
  if (!NAME.test(m.id)) {
    refused.push(`${f.path}: id ${show(m.id)} is not a usable mode name (letters, digits and _.-, starting with a letter or digit)`);
    return undefined;
  }
  const listed = m.services.filter((s): s is string => typeof s === 'string');
  const missing = listed.filter((s) => !converted.has(s));
  if (missing.length) notes.push(`${f.path}: mode ${m.id} loses ${missing.map((s) => oneLine(s, 64)).join(', ')} (not imported)`);
  const kept: string[] = [];
  for (const s of listed) {
    const svc = converted.get(s);
    if (!svc || kept.includes(s)) continue;
    const mate = kept.find((k) => areAlternatives(endpoint(converted.get(k)!), endpoint(svc)));
    if (mate) {
      notes.push(`${f.path}: mode ${m.id} names ${mate} and ${s}, alternatives on port ${String(svc.service.port)} that cannot run together; kept ${mate}`);
      continue;
    }
    kept.push(s);
  }
  const description = typeof m.description === 'string' ? m.description : typeof m.name === 'string' ? m.name : undefined;
  const mode: ModeOut = { id: m.id, file: f.path, services: kept, description: description === undefined ? undefined : oneLine(description, 200) };
  const verdict = schemaVerdict(f.path, { services: {}, modes: Object.fromEntries([[m.id, { services: kept, ...(mode.description ? { description: mode.description } : {}) }]]) });
  if (verdict.length) {
    refused.push(...verdict.map((v) => `${v} (mode ${m.id} not imported)`));
    return undefined;
  }
  return mode;
}

function endpoint(c: Converted): { driver: DriverKind; unit: string; host: string; port: number } {
  return { driver: c.service.driver as DriverKind, unit: String(c.service.unit), host: '127.0.0.1', port: c.service.port as number };
}

/** A comment's text for the yaml library: one line per entry, each starting with a space after `#`. */
function comment(lines: string[]): string {
  return lines.map((l) => ` ${oneLine(l, 400)}`).join('\n');
}

function buildDocument(services: Converted[], modes: ModeOut[], header: string[]): Document {
  const doc = new Document();
  const root = new YAMLMap();
  const servicesNode = new YAMLMap();
  for (const c of services) {
    const key = doc.createNode(c.id) as Scalar;
    key.commentBefore = comment([`from ${c.file}`, ...c.notes.map((n) => `note: ${n}`)]);
    servicesNode.items.push(doc.createPair(key, doc.createNode(c.service)));
  }
  const modesNode = new YAMLMap();
  for (const m of modes) {
    const value = doc.createNode(m.description === undefined ? { services: m.services } : { services: m.services, description: m.description });
    const key = doc.createNode(m.id) as Scalar;
    key.commentBefore = comment([`from ${m.file}`]);
    modesNode.items.push(doc.createPair(key, value));
  }
  root.items.push(doc.createPair('services', servicesNode), doc.createPair('modes', modesNode));
  doc.contents = root;
  doc.commentBefore = comment(header);
  return doc;
}

export function importOriginal(presets: SourceFile[], modeFiles: SourceFile[], sourceDir: string): ImportResult {
  const notes: string[] = [];
  const refused: string[] = [];
  const converted = new Map<string, Converted>();
  for (const f of presets) {
    const c = convertPreset(f, notes, refused);
    if (!c) continue;
    const first = converted.get(c.id);
    if (first) {
      notes.push(`${f.path}: id "${c.id}" already imported from ${first.file}; skipped`);
      continue;
    }
    converted.set(c.id, c);
  }
  const modes = new Map<string, ModeOut>();
  for (const f of modeFiles) {
    const m = convertMode(f, converted, notes, refused);
    if (!m) continue;
    if (modes.has(m.id)) notes.push(`${f.path}: mode id "${m.id}" already imported from ${modes.get(m.id)?.file}; skipped`);
    else modes.set(m.id, m);
  }
  // Presets no mode names are imported too: in the original, several presets on one port were
  // alternatives picked by different modes, and a preset kept for later is still the user's.
  const used = new Set([...modes.values()].flatMap((m) => m.services));
  const unused = [...converted.keys()].filter((id) => !used.has(id));
  if (unused.length) notes.push(`in no mode (imported; add them to a mode to use them): ${unused.join(', ')}`);

  const header = [
    `Imported by \`gpumod import\` from ${sourceDir}.`,
    'Check every unit name with `gpumod doctor`: vLLM units need VLLM_SERVER_DEV_MODE=1 and',
    '--enable-sleep-mode to sleep, llama.cpp routers --models-dir and --no-models-autoload.',
    'Services on one port are alternatives: one runs at a time, a switch stops the other first.',
    ...refused.map((r) => `refused: ${r}`),
  ];
  const yaml = buildDocument([...converted.values()], [...modes.values()], header).toString({ lineWidth: 0 });
  const check = parseConfig(yaml, 'gpumod.yaml');
  return {
    yaml,
    services: converted.size,
    modes: modes.size,
    notes,
    refused,
    unused,
    problems: check.ok ? [] : check.problems.map(formatProblem),
  };
}
