import { stringify } from 'yaml';
import { parseConfig } from './load';
import { formatProblem } from './types';

/**
 * Converts the original (Python) gpumod's presets and modes into one gpumod.yaml. Pure: the CLI reads
 * the files. Everything that does not carry over is reported, and the result is validated by the
 * same loader as any config, so an import never produces a file gpumod would refuse.
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
  /** What did not carry over, one line each, naming the source file. */
  notes: string[];
  /** Problems the generated file still has (empty when it is valid). */
  problems: string[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MODEL = /^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$/;
/** Keys of a preset that map onto gpumod.yaml; any other key is reported as not carried over. */
const PRESET_KEYS = new Set(['id', 'name', 'driver', 'port', 'vram_mb', 'model_id', 'health_endpoint', 'startup_timeout', 'supports_sleep', 'sleep_mode', 'unit_vars', 'unit_name']);

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

function convertPreset(file: SourceFile, notes: string[]): { id: string; service: Rec } | undefined {
  const p = file.data;
  if (!isRec(p)) {
    notes.push(`${file.path}: not a mapping; skipped`);
    return undefined;
  }
  const id = typeof p.id === 'string' ? p.id : undefined;
  if (!id || !NAME.test(id)) {
    notes.push(`${file.path}: id ${JSON.stringify(p.id)} is not a usable service name; skipped`);
    return undefined;
  }
  const driverIn = String(p.driver ?? '');
  const driver = driverIn === 'fastapi' ? 'systemd' : driverIn;
  if (!['vllm', 'llamacpp', 'systemd'].includes(driver)) {
    notes.push(`${file.path}: driver "${driverIn}" is not supported by gpumod for VS Code; ${id} skipped`);
    return undefined;
  }
  if (typeof p.port !== 'number' || typeof p.vram_mb !== 'number') {
    notes.push(`${file.path}: ${id} has no numeric port and vram_mb; skipped`);
    return undefined;
  }
  const unitName = typeof p.unit_name === 'string' ? p.unit_name : `gpumod-${id}`;
  const service: Rec = {
    driver,
    unit: unitName.endsWith('.service') ? unitName : `${unitName}.service`,
    port: p.port,
    vram_mb: p.vram_mb,
  };
  if (typeof p.name === 'string') service.description = p.name;
  const sleepMode = typeof p.sleep_mode === 'string' ? p.sleep_mode : 'none';
  const sleeps = p.supports_sleep !== false && sleepMode !== 'none';
  if (driver === 'vllm') {
    if (sleeps && (sleepMode === 'l1' || sleepMode === 'l2')) service.sleep = sleepMode;
    else if (sleeps) notes.push(`${file.path}: sleep_mode "${sleepMode}" does not apply to vLLM; ${id} will be stopped instead of slept`);
  } else if (driver === 'llamacpp') {
    const vars = isRec(p.unit_vars) ? p.unit_vars : {};
    const model = typeof vars.default_model === 'string' ? vars.default_model : id;
    if (!MODEL.test(model)) {
      notes.push(`${file.path}: model "${model}" is not a valid router model name; ${id} skipped`);
      return undefined;
    }
    service.model = model;
    if (typeof vars.default_model !== 'string') notes.push(`${file.path}: no unit_vars.default_model; assumed the router names the model "${model}" (check with GET /models)`);
    if (!sleeps) service.sleep = 'none';
  } else if (sleeps) {
    notes.push(`${file.path}: sleep_mode "${sleepMode}" on a FastAPI app: the original had no sleep for it; ${id} is start/stop only (give it driver: http and sleep hooks to sleep it)`);
  }
  if (typeof p.health_endpoint === 'string' && p.health_endpoint !== '/health') service.health_path = p.health_endpoint;
  if (typeof p.startup_timeout === 'number' && p.startup_timeout >= 1) service.startup_timeout_s = p.startup_timeout;
  const dropped = Object.keys(p).filter((k) => !PRESET_KEYS.has(k));
  if (dropped.length) notes.push(`${file.path}: not carried over: ${dropped.join(', ')}`);
  if (isRec(p.unit_vars)) notes.push(`${file.path}: unit_vars describe how the original wrote the unit file; gpumod uses the existing unit ${String(service.unit)}`);
  return { id, service };
}

export function importOriginal(presets: SourceFile[], modeFiles: SourceFile[], sourceDir: string): ImportResult {
  const notes: string[] = [];
  const converted = new Map<string, { file: string; service: Rec }>();
  for (const f of presets) {
    const c = convertPreset(f, notes);
    if (!c) continue;
    if (converted.has(c.id)) {
      notes.push(`${f.path}: id "${c.id}" already imported from ${converted.get(c.id)?.file}; skipped`);
      continue;
    }
    converted.set(c.id, { file: f.path, service: c.service });
  }

  const modes: Rec = {};
  const used = new Set<string>();
  for (const f of modeFiles) {
    const m = f.data;
    if (!isRec(m) || typeof m.id !== 'string' || !NAME.test(m.id) || !Array.isArray(m.services)) {
      notes.push(`${f.path}: not a mode (needs id and services); skipped`);
      continue;
    }
    const services = m.services.filter((s): s is string => typeof s === 'string');
    const missing = services.filter((s) => !converted.has(s));
    if (missing.length) notes.push(`${f.path}: mode ${m.id} loses ${missing.join(', ')} (not imported)`);
    const kept = services.filter((s) => converted.has(s));
    kept.forEach((s) => used.add(s));
    const mode: Rec = { services: kept };
    const description = typeof m.description === 'string' ? m.description : typeof m.name === 'string' ? m.name : undefined;
    if (description) mode.description = description;
    modes[m.id] = mode;
  }

  // Presets in a mode come first; an unused preset that would share a port with another service is
  // left out (the original allowed alternatives on one port; gpumod needs one owner per port).
  const services: Rec = {};
  const ports = new Map<number, string>();
  const order = [...converted.keys()].sort((a, b) => Number(used.has(b)) - Number(used.has(a)));
  for (const id of order) {
    const { service, file } = converted.get(id)!;
    const port = service.port as number;
    const owner = ports.get(port);
    if (owner && !used.has(id)) {
      notes.push(`${file}: ${id} shares port ${port} with ${owner} and is in no mode; skipped`);
      continue;
    }
    ports.set(port, owner ?? id);
    services[id] = service;
  }

  const header = [
    `# Imported by \`gpumod import\` from ${sourceDir}.`,
    '# Check every unit name with `gpumod doctor`: vLLM units need VLLM_SERVER_DEV_MODE=1 and',
    '# --enable-sleep-mode to sleep, llama.cpp routers --models-dir and --no-models-autoload.',
    ...notes.map((n) => `# note: ${n}`),
    '',
  ].join('\n');
  const yaml = header + stringify({ services, modes }, { lineWidth: 0 });
  const check = parseConfig(yaml, 'gpumod.yaml');
  return {
    yaml,
    services: Object.keys(services).length,
    modes: Object.keys(modes).length,
    notes,
    problems: check.ok ? [] : check.problems.map(formatProblem),
  };
}
