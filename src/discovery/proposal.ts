import { oneLine } from '../config/importOriginal';
import type { Detected, Detection, Measured, Origin, RouterModel } from './detect';
import type { HttpApp, LlamaRouter, LlamaSingle, Server, VllmServer } from './servers';

/**
 * The services discovery proposes, one draft per server (per model of a router), each value with a
 * comment saying where it comes from: measured now, read from the command line, or guessed. Pure.
 */

export interface Draft {
  name: string;
  unit: string;
  kind: Server['kind'];
  /** The gpumod.yaml entry, keys in the order they are written. */
  service: Record<string, unknown>;
  /** Key → a comment on its line. */
  comments: Record<string, string>;
  /** Comment lines above the entry. */
  header: string[];
  /** One line for a list (quick pick, CLI summary). */
  summary: string;
  /** VRAM awake as proposed (measured or guessed), for a mode's fit. */
  vramMb?: number;
  gpu: number;
  host: string;
  port: number;
  running: boolean;
}

export interface NotAdded {
  unit: string;
  reason: string;
  origin: Origin;
  running: boolean;
  /** unrecognised: not a server gpumod drives; skipped: one, but not usable as is; configured: already in gpumod.yaml. */
  why: 'unrecognised' | 'skipped' | 'configured';
}

export interface Proposal {
  drafts: Draft[];
  notAdded: NotAdded[];
  /** GPU index → total MiB, when a GPU is visible. */
  gpuTotals: Map<number, number>;
}

/** What the current gpumod.yaml already has: service names, `unit` / `unit|model` → service, mode names. */
export interface Existing {
  names: Set<string>;
  byUnit: Map<string, string>;
  modes: Set<string>;
}

export const NO_EXISTING: Existing = { names: new Set(), byUnit: new Map(), modes: new Set() };

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$/;

/** A measured figure as written: rounded up to the next 100 MB, a little headroom over one sample. */
export function roundUp(mb: number): number {
  return Math.ceil(mb / 100) * 100;
}

/** A service name from a unit or model name: `vllm-chat.service` → `vllm-chat`, within the schema's pattern. */
export function serviceNameFrom(text: string): string {
  let name = text
    .replace(/\.service$/, '')
    .replace(/\\x([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[-._]+$/, '');
  if (name === '') name = 'service';
  return name;
}

function unique(base: string, taken: Set<string>): string {
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base.slice(0, 60)}-${n}`;
  taken.add(name);
  return name;
}

function mb(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(1)} GB` : `${n} MB`;
}

function measuredText(m: Measured, what = 'measured now'): string {
  const others = m.otherGpus.length > 0 ? ` (also on GPU ${m.otherGpus.join(', ')}: gpumod plans GPU ${m.gpu} only)` : '';
  return `${what}: ${m.mb} MiB on GPU ${m.gpu}${others}`;
}

/** The GPU a server runs on: where it was measured, else its first CUDA_VISIBLE_DEVICES entry (index or UUID). */
function gpuOf(d: Detected, devices: string[] | undefined, detection: Detection): { gpu: number; note?: string } {
  if (d.measured) return { gpu: d.measured.gpu };
  const first = devices?.[0];
  if (first === undefined) return { gpu: 0 };
  if (/^\d+$/.test(first)) return { gpu: Number(first), ...(devices && devices.length > 1 ? { note: `CUDA_VISIBLE_DEVICES=${devices.join(',')}: gpumod plans GPU ${first} only` } : {}) };
  const byUuid = detection.gpu.available ? detection.gpu.gpus.find((g) => g.uuid === first || g.uuid.startsWith(first)) : undefined;
  return byUuid ? { gpu: byUuid.index } : { gpu: 0, note: `CUDA_VISIBLE_DEVICES=${first} is no GPU nvidia-smi shows: GPU 0 assumed` };
}

function commonFields(draft: Draft, listen: { host: string; port: number }, gpu: number): void {
  if (listen.host !== '127.0.0.1') draft.service.host = listen.host;
  if (gpu !== 0) draft.service.gpu = gpu;
}

function state(d: Detected): string {
  return d.running ? 'running' : d.facts.activeState === 'failed' ? 'failed' : 'stopped';
}

function portComment(d: Detected, listen: { port: number; portDefault: boolean; host: string }, dflt: string): string {
  const from = listen.portDefault ? `${dflt}'s default (no --port)` : 'from the command line';
  if (d.running && d.answered === false) return `${from}; nothing answered on ${listen.host}:${listen.port} just now: check it`;
  return d.running && d.answered ? `${from}; it answered there` : from;
}

export function buildProposal(detection: Detection, existing: Existing = NO_EXISTING): Proposal {
  const taken = new Set(existing.names);
  const drafts: Draft[] = [];
  const notAdded: NotAdded[] = [];
  const gpuTotals = new Map<number, number>();
  if (detection.gpu.available) for (const g of detection.gpu.gpus) if (g.totalMb !== undefined) gpuTotals.set(g.index, g.totalMb);
  for (const d of detection.units) {
    const base = { unit: d.facts.unit, origin: d.facts.origin, running: d.running };
    const c = d.classification;
    if (!c.ok) {
      notAdded.push({ ...base, reason: c.reason, why: 'unrecognised' });
      continue;
    }
    const server = c.server;
    const header = [`${d.facts.unit} (${state(d)}): ${oneLine(c.command, 160)}${c.via.length ? ` (via ${c.via.join(', ')})` : ''}`, ...c.notes.map((n) => `note: ${n}`)];
    if (d.facts.origin === 'transient') header.push('note: a transient unit (systemd-run) is gone once it stops, so gpumod could not start it again: give it a unit file');
    if (server.kind === 'llama-router') {
      routerDrafts(d, server, detection, existing, taken, header, drafts, notAdded);
      continue;
    }
    const configured = existing.byUnit.get(d.facts.unit);
    if (configured !== undefined) {
      notAdded.push({ ...base, reason: `already in gpumod.yaml as ${configured}`, why: 'configured' });
      continue;
    }
    const name = unique(serviceNameFrom(d.facts.unit), taken);
    const draft =
      server.kind === 'vllm' ? vllmDraft(d, server, detection, name, header) : server.kind === 'llama-single' ? singleDraft(d, server, detection, name, header) : appDraft(d, server, detection, name, header);
    drafts.push(draft);
  }
  return { drafts, notAdded, gpuTotals };
}

function newDraft(d: Detected, name: string, kind: Server['kind'], listen: { host: string; port: number }, gpu: number, header: string[]): Draft {
  return { name, unit: d.facts.unit, kind, service: {}, comments: {}, header: [...header], summary: '', gpu, host: listen.host, port: listen.port, running: d.running };
}

function vllmDraft(d: Detected, s: VllmServer, detection: Detection, name: string, header: string[]): Draft {
  const { gpu, note } = gpuOf(d, s.visibleDevices, detection);
  const draft = newDraft(d, name, 'vllm', s.listen, gpu, header);
  if (note) draft.header.push(`note: ${note}`);
  // What the running process says wins over what the unit says (a drop-in gpumod could not read, a unit edited since).
  const devMode = d.asleep !== undefined ? true : d.devModeOff ? false : s.devMode;
  const why: string[] = [];
  if (!s.sleepFlag) why.push('no --enable-sleep-mode');
  if (!devMode) why.push(d.devModeOff && s.devMode ? 'the running process has no dev mode (/is_sleeping answers 404: restart it to apply VLLM_SERVER_DEV_MODE=1)' : 'no VLLM_SERVER_DEV_MODE=1 in its environment');
  let sleep: 'l1' | 'none' = why.length === 0 ? 'l1' : 'none';
  let sleepComment =
    sleep === 'l1'
      ? '--enable-sleep-mode and VLLM_SERVER_DEV_MODE=1: weights to host RAM while asleep (l2 frees the RAM, wakes slower)'
      : `${why.join(', ')}: gpumod would cold-start it (fix that, then sleep: l1)`;
  if (sleep === 'l1' && s.expandableSegments) {
    sleep = 'none';
    sleepComment = 'PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True makes a sleep free nothing: remove it, then sleep: l1';
  }
  const total = detection.gpu.available ? detection.gpu.gpus.find((g) => g.index === gpu)?.totalMb : undefined;
  const util = s.gpuMemoryUtilization ?? 0.9;
  const guess = total !== undefined ? roundUp(util * total) : undefined;
  const svc = draft.service;
  svc.driver = 'vllm';
  svc.unit = d.facts.unit;
  svc.port = s.listen.port;
  draft.comments.port = portComment(d, s.listen, 'vLLM');
  commonFields(draft, s.listen, gpu);
  if (d.measured && d.asleep !== true) {
    svc.vram_mb = roundUp(d.measured.mb);
    draft.comments.vram_mb = measuredText(d.measured);
  } else if (guess !== undefined) {
    svc.vram_mb = guess;
    draft.comments.vram_mb = `guessed: --gpu-memory-utilization ${util}${s.gpuMemoryUtilization === undefined ? " (vLLM's default)" : ''} of ${total} MiB; gpumod measures it once it runs`;
  }
  draft.vramMb = svc.vram_mb as number | undefined;
  svc.sleep = sleep;
  draft.comments.sleep = sleepComment;
  if (d.measured && d.asleep === true) {
    svc.sleep_vram_mb = Math.min(roundUp(d.measured.mb), (svc.vram_mb as number | undefined) ?? Infinity);
    draft.comments.sleep_vram_mb = measuredText(d.measured, 'measured now, asleep');
  }
  const model = s.servedNames[0] ?? s.model;
  if (model) svc.description = oneLine(model, 200);
  if (s.listen.exposed) draft.header.push(`warning: it listens on every interface (${s.listen.bind}); its sleep endpoints are unauthenticated: bind it with --host 127.0.0.1`);
  if (sleep === 'none') draft.header.push(`warning: ${sleepComment}`);
  draft.summary = `vLLM ${model ?? '(default model)'} on :${s.listen.port}, ${sleep === 'l1' ? 'sleeps (L1)' : 'cannot sleep'}${sizeText(draft, d)}`;
  return draft;
}

function sizeText(draft: Draft, d: Detected): string {
  if (draft.vramMb === undefined) return '';
  return `, ${mb(draft.vramMb)} ${d.measured && d.asleep !== true ? 'measured' : 'guessed'}`;
}

function singleDraft(d: Detected, s: LlamaSingle, detection: Detection, name: string, header: string[]): Draft {
  const { gpu, note } = gpuOf(d, s.visibleDevices, detection);
  const draft = newDraft(d, name, 'llama-single', s.listen, gpu, header);
  if (note) draft.header.push(`note: ${note}`);
  const svc = draft.service;
  svc.driver = 'systemd';
  draft.comments.driver = 'one model (-m): llama-server is started and stopped; in router mode (--models-dir, --no-models-autoload) gpumod unloads and loads it instead';
  svc.unit = d.facts.unit;
  svc.port = s.listen.port;
  draft.comments.port = portComment(d, s.listen, 'llama-server');
  commonFields(draft, s.listen, gpu);
  if (d.measured) {
    svc.vram_mb = roundUp(d.measured.mb);
    draft.comments.vram_mb = measuredText(d.measured);
    draft.vramMb = svc.vram_mb as number;
  }
  const label = s.alias ?? s.model.split('/').pop()?.replace(/\.gguf$/, '') ?? s.model;
  svc.description = oneLine(label, 200);
  if (s.sleepIdleSeconds) draft.header.push(`note: --sleep-idle-seconds ${s.sleepIdleSeconds}: it frees the model when idle, but keeps its process`);
  draft.summary = `llama-server ${label} on :${s.listen.port}, start/stop only${sizeText(draft, d)}`;
  return draft;
}

function appDraft(d: Detected, s: HttpApp, detection: Detection, name: string, header: string[]): Draft {
  const { gpu, note } = gpuOf(d, s.visibleDevices, detection);
  const draft = newDraft(d, name, 'http-app', s.listen, gpu, header);
  if (note) draft.header.push(`note: ${note}`);
  const svc = draft.service;
  const hooks = d.app?.hooks;
  svc.driver = hooks ? 'http' : 'systemd';
  if (!hooks) {
    draft.comments.driver = !d.running
      ? 'not running, so its endpoints could not be looked at: started and stopped (with load/unload endpoints it can sleep: driver http)'
      : 'no load/unload endpoints found: started and stopped (give it POST /load, POST /unload and GET /status to sleep it)';
  }
  svc.unit = d.facts.unit;
  svc.port = s.listen.port;
  draft.comments.port = portComment(d, s.listen, s.runner);
  commonFields(draft, s.listen, gpu);
  if (d.measured) {
    svc.vram_mb = roundUp(d.measured.mb);
    draft.comments.vram_mb = measuredText(d.measured);
    draft.vramMb = svc.vram_mb as number;
  }
  if (hooks) {
    svc.sleep = { sleep: hooks.sleep, wake: hooks.wake, probe: hooks.probe };
    draft.comments.sleep = d.app?.from === 'openapi' ? "found in the app's /openapi.json" : 'found by looking at the running app (GET on its routes)';
  }
  const health = d.app?.health;
  if (health && health !== '/health') {
    svc.health_path = health;
    draft.comments.health_path = health === '/openapi.json' ? 'the app has no health route; its OpenAPI document answers while it runs' : 'answered while it runs';
  } else if (!health) {
    draft.header.push(`note: health check assumed at GET /health${d.running ? ' (it did not answer there)' : ''}: set health_path if the app has none`);
  }
  if (s.app) svc.description = oneLine(s.app, 200);
  if (s.listen.exposed) draft.header.push(`note: it listens on every interface (${s.listen.bind})`);
  draft.summary = `${s.runner} ${s.app ?? 'app'} on :${s.listen.port}, ${hooks ? 'sleeps through its hooks' : 'start/stop only'}${sizeText(draft, d)}`;
  return draft;
}

function routerDrafts(d: Detected, s: LlamaRouter, detection: Detection, existing: Existing, taken: Set<string>, header: string[], drafts: Draft[], notAdded: NotAdded[]): void {
  const base = { unit: d.facts.unit, origin: d.facts.origin, running: d.running };
  const models = d.models ?? [];
  if (models.length === 0) {
    const where = s.modelsDir ? `--models-dir ${s.modelsDir}` : s.modelsPreset ? `--models-preset ${s.modelsPreset}` : 'its model cache';
    notAdded.push({ ...base, reason: `llama-server in router mode, but no models found (${d.running ? 'GET /models listed none' : `nothing in ${where}`}): start it or add models, then detect again`, why: 'skipped' });
    return;
  }
  const { gpu, note } = gpuOf(d, s.visibleDevices, detection);
  const routerNotes = [
    `llama-server router: models share this unit and port${s.modelsMax > 0 ? `; at most ${s.modelsMax} loaded at once (--models-max)` : ''}`,
    ...(note ? [`note: ${note}`] : []),
    ...(s.autoload ? ['warning: no --no-models-autoload: a request for an unloaded model loads it behind gpumod\'s back'] : []),
    ...(s.sleepIdleSeconds ? [`note: --sleep-idle-seconds ${s.sleepIdleSeconds}: an idle model keeps its process and some memory`] : []),
  ];
  let first = true;
  for (const m of models) {
    if (!MODEL_NAME.test(m.name)) {
      notAdded.push({ ...base, reason: `model "${oneLine(m.name, 100)}" of this router has a name gpumod's config cannot hold (letters, digits and _.:+- only)`, why: 'skipped' });
      continue;
    }
    const configured = existing.byUnit.get(`${d.facts.unit}|${m.name}`);
    if (configured !== undefined) {
      notAdded.push({ ...base, reason: `model ${m.name} already in gpumod.yaml as ${configured}`, why: 'configured' });
      continue;
    }
    const name = unique(serviceNameFrom(taken.has(serviceNameFrom(m.name)) ? `${serviceNameFrom(d.facts.unit)}-${m.name}` : m.name), taken);
    const draft = newDraft(d, name, 'llama-router', s.listen, m.measured?.gpu ?? gpu, first ? [...header, ...routerNotes] : [`${d.facts.unit}: another model of the same router`]);
    first = false;
    const svc = draft.service;
    svc.driver = 'llamacpp';
    svc.unit = d.facts.unit;
    svc.port = s.listen.port;
    draft.comments.port = portComment(d, s.listen, 'llama-server');
    commonFields(draft, s.listen, draft.gpu);
    svc.model = m.name;
    draft.comments.model = modelSource(m, s);
    sizeOfModel(draft, m);
    if (d.routerMb !== undefined && (draft.vramMb === undefined || d.routerMb <= draft.vramMb)) {
      svc.sleep_vram_mb = roundUp(d.routerMb);
      draft.comments.sleep_vram_mb = `measured now: the router process itself holds ${d.routerMb} MiB`;
    }
    draft.summary = `llama.cpp model ${m.name} (router ${d.facts.unit}) on :${s.listen.port}, unloads and loads${draft.vramMb !== undefined ? `, ${mb(draft.vramMb)} ${m.measured ? 'measured' : 'guessed'}` : ''}`;
    drafts.push(draft);
  }
}

function modelSource(m: RouterModel, s: LlamaRouter): string {
  if (m.source === 'router') return `listed by the router's GET /models${m.loaded ? ' (loaded now)' : ''}`;
  if (m.source === 'preset') return `a section of ${s.modelsPreset}`;
  return `in ${s.modelsDir}`;
}

function sizeOfModel(draft: Draft, m: RouterModel): void {
  if (m.measured) {
    draft.service.vram_mb = roundUp(m.measured.mb);
    draft.comments.vram_mb = measuredText(m.measured, 'measured now, loaded');
  } else if (m.bytes !== undefined && m.bytes > 0) {
    draft.service.vram_mb = roundUp(m.bytes / (1024 * 1024));
    draft.comments.vram_mb = 'guessed: the size of its .gguf file (the KV cache comes on top; gpumod measures it at the first load)';
  }
  draft.vramMb = draft.service.vram_mb as number | undefined;
}
