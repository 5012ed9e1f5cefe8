import { isAbsolute, join } from 'node:path';
import type { ServiceConfig } from '../config/types';
import { hookState } from '../drivers/httpHooks';
import type { Logger } from '../engine/logger';
import type { Gpu, GpuSnapshot, HttpClient, ProcessOptions } from '../engine/machinePorts';
import { childModel } from '../engine/routers';
import { errorMessage } from '../errors';
import { execArgv } from '../system/systemd';
import type { UnitListing } from '../system/systemd';
import { hooksFromLooks, hooksFromRoutes, LOOK_PATHS, openApiRoutes, type AppEndpoints } from './appHooks';
import { classifyCommand } from './classify';
import type { Classification, Listen, LlamaRouter } from './servers';
import { parseEnvironment, parseEnvironmentFile } from './shellWords';

/**
 * Discovery's look at the machine: every service unit of the user manager (one listing, one
 * `systemctl show` for all of them), each one's command line classified, and for those running now
 * their memory on the GPU (by cgroup) and a few read-only HTTP looks (is a vLLM asleep, which models
 * a router offers, which hooks an app has). Nothing is started, stopped, loaded or unloaded.
 */

/** What `systemctl show` is asked about each unit. */
export const DISCOVERY_PROPERTIES = [
  'Description',
  'LoadState',
  'ActiveState',
  'SubState',
  'MainPID',
  'ControlGroup',
  'ExecStart',
  'Environment',
  'EnvironmentFiles',
  'WorkingDirectory',
  'FragmentPath',
  'Transient',
] as const;

export interface DirEntry {
  name: string;
  dir: boolean;
  bytes: number;
}

export interface DetectPorts {
  systemd: {
    listServices(opts?: ProcessOptions): Promise<{ files: UnitListing[]; loaded: UnitListing[] }>;
    showProperties(units: readonly string[], properties: readonly string[], opts?: ProcessOptions): Promise<Map<string, Map<string, string>>>;
    /** The manager's own environment (environment.d, set-environment): every unit inherits it. */
    managerEnvironment?(opts?: ProcessOptions): Promise<Record<string, string>>;
  };
  gpu: Pick<Gpu, 'snapshot'>;
  http: HttpClient;
  files: {
    /** A regular file's text up to `maxBytes`, undefined when it cannot be read. */
    readText(path: string, maxBytes: number): Promise<string | undefined>;
    /** A directory's entries (sizes of regular files), undefined when it cannot be read. */
    list(dir: string): Promise<DirEntry[] | undefined>;
  };
  log: Logger;
  home: string;
}

/** Where a unit comes from: only the user's own units are listed one by one when not recognised. */
export type Origin = 'yours' | 'package' | 'transient' | 'generated';

export interface UnitFacts {
  unit: string;
  description: string;
  origin: Origin;
  activeState: string;
  subState: string;
  mainPid: number;
  fragmentPath?: string;
  workingDirectory?: string;
  env: Record<string, string>;
  execStart?: string;
}

/** VRAM a unit's processes hold, on the GPU where most of it is. */
export interface Measured {
  gpu: number;
  mb: number;
  /** Other GPUs it also holds memory on (tensor parallel). */
  otherGpus: number[];
}

export interface RouterModel {
  name: string;
  source: 'router' | 'models-dir' | 'preset';
  /** The model file's size (models-dir), a guess of its VRAM before gpumod measures it. */
  bytes?: number;
  loaded?: boolean;
  measured?: Measured;
}

export interface Detected {
  facts: UnitFacts;
  classification: Classification;
  running: boolean;
  measured?: Measured;
  /** Something answered HTTP on the server's port (running units only). */
  answered?: boolean;
  /** vLLM: GET /is_sleeping said true. */
  asleep?: boolean;
  /** vLLM: GET /is_sleeping answered 404: the running process has no dev mode. */
  devModeOff?: boolean;
  /** Routers: their models, from the router itself when it runs, else from its models dir or preset. */
  models?: RouterModel[];
  /** Routers: what the router process holds beside its models' children. */
  routerMb?: number;
  app?: AppEndpoints;
}

export interface Detection {
  units: Detected[];
  gpu: GpuSnapshot;
  at: Date;
}

const LOOK_MS = 2000;
const ENV_FILE_MAX = 64 * 1024;
const RUNNING = new Set(['active', 'activating', 'reloading', 'deactivating']);

export function originOf(map: ReadonlyMap<string, string>): Origin {
  if (map.get('Transient') === 'yes') return 'transient';
  const path = map.get('FragmentPath') ?? '';
  if (path.includes('/generator')) return 'generated';
  if (path.startsWith('/usr/') || path.startsWith('/lib/')) return 'package';
  return 'yours';
}

/** `EnvironmentFiles=/path (ignore_errors=yes)` lines → the paths. */
export function environmentFilePaths(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split('\n')
    .map((l) => l.replace(/\s+\(ignore_errors=(yes|no)\)\s*$/, '').trim())
    .filter((p) => p.startsWith('/'));
}

/** WorkingDirectory= as shown: `!`/`-` prefixes off, `~` the home; empty when unset. */
export function workingDirectory(value: string | undefined, home: string): string | undefined {
  const v = (value ?? '').replace(/^[!-]+/, '');
  if (v === '') return undefined;
  return v === '~' ? home : v;
}

/** Memory per unit (and per router model, by its child's command line) from a GPU snapshot. */
export function measuredBy(snapshot: GpuSnapshot, pick: (p: { unit?: string; command?: string[] }) => boolean): Measured | undefined {
  if (!snapshot.available) return undefined;
  const perGpu: { gpu: number; mb: number }[] = [];
  for (const g of snapshot.gpus) {
    const mb = g.processes.filter(pick).reduce((sum, p) => sum + (p.usedMb ?? 0), 0);
    if (mb > 0) perGpu.push({ gpu: g.index, mb });
  }
  if (perGpu.length === 0) return undefined;
  perGpu.sort((a, b) => b.mb - a.mb);
  return { gpu: perGpu[0].gpu, mb: perGpu[0].mb, otherGpus: perGpu.slice(1).map((p) => p.gpu) };
}

/** `[name]` sections of a llama-server models preset (INI), without the global `[*]`. */
export function presetModels(text: string): string[] {
  return [...text.matchAll(/^\s*\[([^\]\n]+)\]\s*$/gm)].map((m) => m[1].trim()).filter((n) => n !== '*' && n !== '');
}

/** Models a router would find in `--models-dir`: `NAME.gguf` files and folders holding one (projectors aside). */
export function modelsDirEntries(top: DirEntry[], sub: ReadonlyMap<string, DirEntry[]>): RouterModel[] {
  const gguf = (e: DirEntry): boolean => !e.dir && e.name.endsWith('.gguf') && !e.name.startsWith('mmproj');
  const out: RouterModel[] = [];
  for (const e of top) {
    if (gguf(e) && !/-0000[2-9]-of-\d{5}\.gguf$/.test(e.name)) out.push({ name: e.name.slice(0, -'.gguf'.length), source: 'models-dir', bytes: e.bytes });
    if (e.dir) {
      const files = (sub.get(e.name) ?? []).filter(gguf);
      if (files.length > 0) out.push({ name: e.name, source: 'models-dir', bytes: files.reduce((s, f) => s + f.bytes, 0) });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function detect(ports: DetectPorts, opts: ProcessOptions = {}): Promise<Detection> {
  const { systemd, log } = ports;
  const [listing, managerEnv, gpu] = await Promise.all([
    systemd.listServices(opts),
    systemd.managerEnvironment?.(opts).catch((e: unknown) => {
      log.warn(`discovery: the manager's environment could not be read: ${errorMessage(e)}`);
      return {};
    }) ?? Promise.resolve({}),
    ports.gpu.snapshot(opts).catch((e: unknown): GpuSnapshot => ({ available: false, reason: errorMessage(e) })),
  ]);
  const names = [...new Set([...listing.files, ...listing.loaded].map((u) => u.unit))].sort();
  const shown = await systemd.showProperties(names, DISCOVERY_PROPERTIES, opts);
  const units: Detected[] = [];
  await Promise.all(
    names.map(async (unit) => {
      const map = shown.get(unit);
      if (!map || map.get('LoadState') === 'not-found' || map.get('LoadState') === 'masked') return;
      const facts = await unitFacts(ports, unit, map, managerEnv);
      units.push(await look(ports, facts, gpu));
    }),
  );
  units.sort((a, b) => a.facts.unit.localeCompare(b.facts.unit));
  return { units, gpu, at: new Date() };
}

async function unitFacts(ports: DetectPorts, unit: string, map: ReadonlyMap<string, string>, managerEnv: Record<string, string>): Promise<UnitFacts> {
  // systemd's order: the manager's environment, Environment=, then EnvironmentFile= (which wins).
  const env: Record<string, string> = { ...managerEnv, ...parseEnvironment(map.get('Environment')) };
  for (const path of environmentFilePaths(map.get('EnvironmentFiles'))) {
    const text = await ports.files.readText(path, ENV_FILE_MAX);
    if (text !== undefined) Object.assign(env, parseEnvironmentFile(text));
  }
  const execStart = execArgv(map.get('ExecStart'));
  const wd = workingDirectory(map.get('WorkingDirectory'), ports.home);
  return {
    unit,
    description: map.get('Description') ?? '',
    origin: originOf(map),
    activeState: map.get('ActiveState') ?? 'unknown',
    subState: map.get('SubState') ?? 'unknown',
    mainPid: Number(map.get('MainPID') ?? 0) || 0,
    ...(map.get('FragmentPath') ? { fragmentPath: map.get('FragmentPath') } : {}),
    ...(wd ? { workingDirectory: wd } : {}),
    env,
    ...(execStart !== undefined ? { execStart } : {}),
  };
}

async function get(ports: DetectPorts, listen: Listen, path: string): Promise<{ status: number; body: string } | undefined> {
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  try {
    const res = await ports.http.request({ method: 'GET', url: `http://${host}:${listen.port}${path}`, timeoutMs: LOOK_MS, maxBytes: 512 * 1024 });
    return { status: res.status, body: res.body };
  } catch {
    return undefined;
  }
}

function json(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

async function look(ports: DetectPorts, facts: UnitFacts, gpu: GpuSnapshot): Promise<Detected> {
  const classification = classifyCommand(facts.execStart, facts.env);
  const running = RUNNING.has(facts.activeState) && facts.mainPid > 0;
  const d: Detected = { facts, classification, running };
  if (!classification.ok) return d;
  const server = classification.server;
  const measured = measuredBy(gpu, (p) => p.unit === facts.unit);
  if (measured) d.measured = measured;
  if (server.kind === 'llama-router') {
    await routerModels(ports, d, server, gpu);
    return d;
  }
  if (!running) return d;
  if (server.kind === 'vllm') {
    const res = await get(ports, server.listen, '/is_sleeping');
    d.answered = res !== undefined;
    if (res?.status === 404) d.devModeOff = true;
    const sleeping = res?.status === 200 ? (json(res.body) as { is_sleeping?: unknown } | undefined)?.is_sleeping : undefined;
    if (typeof sleeping === 'boolean') d.asleep = sleeping;
  } else if (server.kind === 'llama-single') {
    d.answered = (await get(ports, server.listen, '/health')) !== undefined;
  } else {
    d.app = await appEndpoints(ports, server.listen, d);
  }
  return d;
}

async function appEndpoints(ports: DetectPorts, listen: Listen, d: Detected): Promise<AppEndpoints | undefined> {
  const openapi = await get(ports, listen, '/openapi.json');
  d.answered = openapi !== undefined;
  if (!openapi) return undefined;
  const routes = openapi.status === 200 ? openApiRoutes(json(openapi.body)) : undefined;
  if (routes) {
    const found = hooksFromRoutes(routes);
    // /openapi.json answered: it serves as the health check where the app has none of its own.
    return { ...found, health: found.health ?? '/openapi.json', from: 'openapi' };
  }
  const gets = new Map<string, { status: number; tellsState: boolean }>();
  await Promise.all(
    LOOK_PATHS.map(async (path) => {
      const res = await get(ports, listen, path);
      if (res) gets.set(path, { status: res.status, tellsState: res.status === 200 && hookState(json(res.body)) !== undefined });
    }),
  );
  return { ...hooksFromLooks({ gets }), from: 'probes' };
}

async function routerModels(ports: DetectPorts, d: Detected, router: LlamaRouter, gpu: GpuSnapshot): Promise<void> {
  const models: RouterModel[] = [];
  if (d.running) {
    const res = await get(ports, router.listen, '/models');
    d.answered = res !== undefined;
    const data = res?.status === 200 ? (json(res.body) as { data?: unknown } | undefined)?.data : undefined;
    if (Array.isArray(data)) {
      for (const m of data as { id?: unknown; status?: { value?: unknown } }[]) {
        if (typeof m?.id !== 'string') continue;
        const value = m.status?.value;
        models.push({ name: m.id, source: 'router', ...(typeof value === 'string' ? { loaded: value === 'loaded' || value === 'sleeping' } : {}) });
      }
    }
  }
  if (models.length === 0 && router.modelsDir) {
    const base = isAbsolute(router.modelsDir) ? router.modelsDir : join(d.facts.workingDirectory ?? ports.home, router.modelsDir);
    const top = (await ports.files.list(base)) ?? [];
    const sub = new Map<string, DirEntry[]>();
    await Promise.all(top.filter((e) => e.dir).map(async (e) => sub.set(e.name, (await ports.files.list(join(base, e.name))) ?? [])));
    models.push(...modelsDirEntries(top, sub));
  }
  if (models.length === 0 && router.modelsPreset) {
    const path = isAbsolute(router.modelsPreset) ? router.modelsPreset : join(d.facts.workingDirectory ?? ports.home, router.modelsPreset);
    const text = await ports.files.readText(path, ENV_FILE_MAX);
    if (text !== undefined) models.push(...presetModels(text).map((name): RouterModel => ({ name, source: 'preset' })));
  }
  // Each model's child holds its memory; what is left in the unit is the router's own.
  const asConfig = models.map((m) => ({ model: m.name }) as ServiceConfig);
  for (const m of models) {
    const measured = measuredBy(gpu, (p) => p.unit === d.facts.unit && childModel(p.command, asConfig)?.model === m.name);
    if (measured) m.measured = measured;
  }
  const own = measuredBy(gpu, (p) => p.unit === d.facts.unit && childModel(p.command, asConfig) === undefined);
  if (own) d.routerMb = own.mb;
  d.models = models;
}
