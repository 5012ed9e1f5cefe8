import { readdir, readFile, readlink } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { Config, ServiceConfig } from '../config/types';
import { baseUrl, excerpt, parseServerJson } from '../drivers/common';
import { offeredModels } from '../drivers/llamacpp';
import { errorMessage } from '../errors';
import { unitOfCgroupFile } from '../system/gpu';
import {
  commandView,
  flagValue,
  hasFlag,
  isLoopback,
  isWildcard,
  listenersOn,
  parseEnvironmentFile,
  parseProcNetTcp,
  parseServiceSection,
  socketInode,
  type TcpSocket,
} from '../system/inspect';
import type { Logger } from '../engine/logger';
import { resolveBinary, runProcess, type Env } from '../system/process';
import type { Gpu, HttpClient, UnitStatus } from '../engine/machinePorts';
import { lookup, type Footprints } from '../engine/footprints';
import { allowFlags, UsageError, type ParsedArgs } from './args';
import { checkFootprint } from './footprintCheck';
import { checkVisibleDevices, type Card, type DeviceSetting, type DevicesFacts } from './visibleDevicesCheck';
import { EXIT, type CliIo } from './io';
import { withSession } from './session';

/**
 * `gpumod doctor`: can each configured service do what the config says? Each finding names the
 * check, what was seen and the fix. The facts are gathered first (systemctl, /proc, HTTP), then
 * judged by pure functions, so the rules are unit-tested without a machine.
 */

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  /** The service, or "*" for the machine. */
  service: string;
  check: string;
  ok: boolean;
  /** For a failed check, how bad; "info" for passed ones. */
  severity: Severity;
  message: string;
  fix?: string;
}

/** A process listening on the service's port. */
export interface Listener {
  address: string;
  pid?: number;
  /** The systemd unit the PID runs in (from /proc/PID/cgroup). */
  unit?: string;
  comm?: string;
}

/** One answer of the server, asked only when its unit is active and it owns the port. */
export interface EndpointAnswer {
  request: string;
  status?: number;
  body?: string;
  error?: string;
}

/** Everything doctor saw of one service. */
export interface ServiceFacts {
  unit?: UnitStatus;
  unitError?: string;
  /** `systemctl --user cat UNIT`: the file and its drop-ins. */
  unitText?: string;
  unitTextError?: string;
  /** Variables of the unit's EnvironmentFile= files that could be read. */
  envFileVars: Map<string, string>;
  unreadableEnvFiles: string[];
  listeners: Listener[];
  endpoint?: EndpointAnswer;
  /** nvidia-smi's cards, asked only when some unit sets CUDA_VISIBLE_DEVICES (to resolve its UUIDs). */
  cards?: Card[];
}

const ACTIVE = new Set(['active', 'activating', 'reloading']);
const DEV_MODE = 'VLLM_SERVER_DEV_MODE';

function sleeps(svc: ServiceConfig): boolean {
  return svc.driver === 'vllm' && (svc.sleep === 'l1' || svc.sleep === 'l2');
}

/** The rules, one service at a time (`config` gives the modes a shared router must serve). Pure. */
export function checkService(svc: ServiceConfig, facts: ServiceFacts, config?: Pick<Config, 'services' | 'modes'>): Finding[] {
  const findings: Finding[] = [];
  const pass = (check: string, message: string): void => void findings.push({ service: svc.name, check, ok: true, severity: 'info', message });
  const fail = (check: string, severity: Severity, message: string, fix: string): void => void findings.push({ service: svc.name, check, ok: false, severity, message, fix });
  const edit = `systemctl --user edit --full ${svc.unit}`;

  // The unit.
  const u = facts.unit;
  if (!u) {
    fail('unit', 'error', `cannot query ${svc.unit}: ${facts.unitError ?? 'no answer'}`, 'check that the systemd user manager runs: systemctl --user status');
  } else if (u.loadState === 'not-found') {
    fail('unit', 'error', `unit not found: ${svc.unit}`, `create it (in ~/.config/systemd/user/) or fix \`unit:\` of ${svc.name} in gpumod.yaml`);
  } else if (u.loadState === 'masked') {
    fail('unit', 'error', `${svc.unit} is masked: it cannot be started`, `systemctl --user unmask ${svc.unit}`);
  } else if (u.loadState !== 'loaded') {
    fail('unit', 'error', `${svc.unit} could not be loaded (LoadState=${u.loadState})`, `systemctl --user status ${svc.unit} says why; fix the file, then systemctl --user daemon-reload`);
  } else {
    pass('unit', `${svc.unit} is loaded, ${u.activeState} (${u.subState})`);
    if (u.activeState === 'failed') {
      fail('state', 'warning', `${svc.unit} failed (${u.result}${u.execMainStatus ? `, exit status ${u.execMainStatus}` : ''})`, `gpumod logs ${svc.name} shows why; gpumod start ${svc.name} tries again`);
    }
  }
  const loaded = u?.loadState === 'loaded';
  const active = loaded && ACTIVE.has(u.activeState);

  // What the unit runs.
  if (loaded && (svc.driver === 'vllm' || svc.driver === 'llamacpp')) {
    if (facts.unitText === undefined) {
      fail('unit-file', 'warning', `cannot read ${svc.unit}: ${facts.unitTextError ?? 'no text'}`, `systemctl --user cat ${svc.unit}`);
    } else {
      const section = parseServiceSection(facts.unitText);
      const argv = section.execStart[section.execStart.length - 1];
      if (!argv || argv.length === 0) {
        fail('unit-file', 'error', `${svc.unit} has no ExecStart=`, `add ExecStart= to [Service]: ${edit}`);
      } else if (svc.driver === 'vllm') {
        checkVllmUnit(svc, argv, section.environment, facts, pass, fail);
      } else {
        checkRouterUnit(svc, argv, pass, fail);
        checkRouterModels(svc, argv, config, pass, fail);
      }
    }
  }

  // The cards it may use: any driver's server can run on a GPU.
  if (loaded && facts.unitText !== undefined) findings.push(...checkVisibleDevices(svc, devicesFacts(facts.unitText, facts)));

  // The port.
  const mine = facts.listeners.filter((l) => l.unit === svc.unit);
  const others = facts.listeners.filter((l) => l.unit !== svc.unit && l.pid !== undefined);
  const unseen = facts.listeners.filter((l) => l.pid === undefined);
  const moveFix = `stop it, or give ${svc.name} a free port (\`port:\` in gpumod.yaml and the unit's --port)`;
  if (others.length > 0) {
    const o = others[0];
    fail('port', 'error', `port ${svc.port} is taken by PID ${o.pid}${o.comm ? ` (${o.comm})` : ''}${o.unit ? ` of ${o.unit}` : ', outside any unit'}, listening on ${o.address}`, moveFix);
  } else if (mine.length > 0) {
    pass('port', `port ${svc.port} is served by ${svc.unit} (PID ${mine[0].pid}, ${mine[0].address})`);
  } else if (unseen.length > 0) {
    if (active) fail('port', 'warning', `something listens on port ${svc.port}, but its process is not visible (no permission to read /proc?)`, 'run gpumod doctor as the user who owns the process');
    else fail('port', 'error', `port ${svc.port} is in use by a process gpumod cannot see (another user's?) while ${svc.unit} is stopped`, moveFix);
  } else if (active) {
    fail('port', 'warning', `${svc.unit} is ${u?.activeState} but nothing listens on port ${svc.port} (still starting, or it serves another port)`, `compare the unit's --port with \`port:\`; gpumod logs ${svc.name}`);
  } else {
    pass('port', `port ${svc.port} is free`);
  }

  // The server itself.
  if (facts.endpoint) checkEndpoint(svc, facts.endpoint, pass, fail);
  return findings;
}

type Pass = (check: string, message: string) => void;
type Fail = (check: string, severity: Severity, message: string, fix: string) => void;

const VISIBLE = 'CUDA_VISIBLE_DEVICES';

/**
 * The unit's CUDA_VISIBLE_DEVICES where systemd would take it from: an assignment in ExecStart (`env
 * VAR=…`, `sh -c 'VAR=… exec …'`) over the EnvironmentFile=s, which override Environment= (systemd.exec).
 */
export function devicesFacts(unitText: string, facts: Pick<ServiceFacts, 'envFileVars' | 'unreadableEnvFiles' | 'cards'>): DevicesFacts {
  const section = parseServiceSection(unitText);
  const view = commandView(section.execStart[section.execStart.length - 1] ?? []);
  const sources: Array<[DeviceSetting['from'], ReadonlyMap<string, string>]> = [
    ['exec-start', view.env],
    ['environment-file', facts.envFileVars],
    ['environment', section.environment],
  ];
  const found = sources.find(([, env]) => env.has(VISIBLE));
  const order = sources.map(([, env]) => env.get('CUDA_DEVICE_ORDER')).find((v) => v !== undefined);
  const hidden = [
    ...(facts.unreadableEnvFiles.length ? [`${facts.unreadableEnvFiles.join(', ')} could not be read`] : []),
    ...(/\.(sh|bash)$/.test(view.program) ? [`${view.program} may set it`] : []),
  ].join('; ');
  return {
    ...(found ? { setting: { value: found[1].get(VISIBLE) as string, from: found[0] } } : {}),
    ...(order !== undefined ? { deviceOrder: order } : {}),
    ...(facts.cards ? { cards: facts.cards } : {}),
    ...(hidden ? { hidden } : {}),
  };
}

/** PyTorch reads its allocator settings from either name (PYTORCH_ALLOC_CONF since 2.8). */
const ALLOC_CONF = ['PYTORCH_CUDA_ALLOC_CONF', 'PYTORCH_ALLOC_CONF'];

/** `expandable_segments:True` among the comma-separated `key:value` settings. */
export function expandableSegmentsOn(conf: string): boolean {
  return conf.split(',').some((kv) => {
    const [key, value] = kv.split(':').map((w) => w.trim());
    return key === 'expandable_segments' && /^(true|1)$/i.test(value ?? '');
  });
}

// vLLM's sleep mode allocates through its own CUDA memory pool; with expandable segments PyTorch
// bypasses it, so /sleep answers 200 and is_sleeping turns true while every byte stays on the GPU.
function checkAllocConf(env: Map<string, string>, edit: string, restart: string, pass: Pass, fail: Fail): void {
  const on = ALLOC_CONF.filter((name) => expandableSegmentsOn(env.get(name) ?? ''));
  if (on.length === 0) {
    pass('alloc-conf', 'expandable segments are off (sleep can free the memory)');
    return;
  }
  for (const name of on) {
    fail('alloc-conf', 'error', `${name}=${env.get(name)}: with expandable_segments:True vLLM's sleep frees nothing (it answers /sleep and still holds all its memory)`, `remove expandable_segments:True from ${name} (${edit}), ${restart}`);
  }
}

function checkVllmUnit(svc: ServiceConfig, argv: string[], unitEnv: Map<string, string>, facts: ServiceFacts, pass: Pass, fail: Fail): void {
  const view = commandView(argv);
  const env = new Map([...facts.envFileVars, ...unitEnv, ...view.env]);
  const edit = `systemctl --user edit --full ${svc.unit}`;
  // A script in ExecStart hides the flags: say so rather than guess.
  const visible = view.words.some((w) => /vllm/i.test(w));
  if (!visible) fail('command', 'warning', `ExecStart runs ${view.program}, which does not show vLLM's command line: its flags cannot be checked`, 'run vllm directly in ExecStart=, or check the script by hand for the flags below');
  const restart = `then systemctl --user restart ${svc.unit}`;

  if (sleeps(svc)) {
    if (visible && hasFlag(view.words, '--enable-sleep-mode') && !hasFlag(view.words, '--no-enable-sleep-mode')) {
      pass('sleep-flag', 'ExecStart has --enable-sleep-mode');
    } else if (visible && flagValue(view.words, '--config') === undefined) {
      fail('sleep-flag', 'error', `sleep: ${svc.sleep} but ExecStart lacks --enable-sleep-mode: /sleep would answer and free nothing`, `add --enable-sleep-mode to ExecStart= (${edit}), ${restart}`);
    } else {
      fail('sleep-flag', 'warning', `--enable-sleep-mode is not on the command line${visible ? ' (it may be in the --config file)' : ''}`, 'make sure vLLM starts with --enable-sleep-mode');
    }
    const dev = env.get(DEV_MODE);
    if (dev !== undefined && /^[1-9]\d*$/.test(dev)) {
      pass('dev-mode', `${DEV_MODE}=${dev} is set`);
    } else if (dev !== undefined) {
      fail('dev-mode', 'error', `${DEV_MODE}=${dev}: vLLM enables its sleep endpoints only for a non-zero number`, `set Environment=${DEV_MODE}=1 (${edit}), ${restart}`);
    } else if (facts.unreadableEnvFiles.length > 0 || !visible) {
      fail('dev-mode', 'warning', `${DEV_MODE}=1 is not in the unit's Environment=${facts.unreadableEnvFiles.length ? ` (${facts.unreadableEnvFiles.join(', ')} could not be read)` : ''}`, `make sure the server sees ${DEV_MODE}=1`);
    } else {
      fail('dev-mode', 'error', `${DEV_MODE}=1 is not set: vLLM's sleep endpoints (/sleep, /wake_up, /is_sleeping) answer 404`, `add Environment=${DEV_MODE}=1 under [Service] (${edit}), ${restart}`);
    }
    checkAllocConf(env, edit, restart, pass, fail);
  }

  // Without --host vLLM binds every interface; its dev endpoints have no authentication.
  const exposedSeverity: Severity = sleeps(svc) || env.has(DEV_MODE) ? 'error' : 'warning';
  const hostFix = `add --host 127.0.0.1 to ExecStart= (${edit}): ${exposedSeverity === 'error' ? "vLLM's sleep endpoints are unauthenticated" : 'its API has no authentication unless --api-key is set'}`;
  // A running server's own sockets are the truth, whatever its command line says.
  const own = facts.listeners.filter((l) => l.unit === svc.unit);
  if (own.length > 0) {
    const open = own.find((l) => !isLoopback(l.address));
    if (!open) pass('host', `listens on loopback only (${own.map((l) => l.address).join(', ')})`);
    else if (open.address === svc.host) fail('host', 'warning', `listens on ${open.address}, reachable from that network (allowed by allowed_hosts)`, 'prefer --host 127.0.0.1 unless other machines must reach it');
    else fail('host', exposedSeverity, `listens on ${open.address}${isWildcard(open.address) ? ', every interface' : ''}: reachable from the network${visible && flagValue(view.words, '--host') === undefined ? ' (no --host: vLLM binds 0.0.0.0)' : ''}`, hostFix);
  }
  if (!visible) return;
  // Not running: judged from the command line.
  if (own.length === 0) checkHostFlag(svc, flagValue(view.words, '--host'), exposedSeverity, hostFix, pass, fail);
  checkPortFlag(svc, view.words, 8000, pass, fail);
}

function checkHostFlag(svc: ServiceConfig, host: string | undefined, exposedSeverity: Severity, hostFix: string, pass: Pass, fail: Fail): void {
  if (host === undefined) {
    fail('host', exposedSeverity, 'no --host: vLLM listens on every interface (0.0.0.0), reachable from the network', hostFix);
  } else if (isWildcard(host)) {
    fail('host', exposedSeverity, `--host ${host}: vLLM listens on every interface, reachable from the network`, hostFix);
  } else if (isLoopback(host)) {
    pass('host', `listens on loopback (--host ${host})`);
  } else if (host === svc.host) {
    fail('host', 'warning', `listens on ${host}, reachable from that network (allowed by allowed_hosts)`, 'prefer --host 127.0.0.1 unless other machines must reach it');
  } else {
    fail('host', 'error', `listens on ${host} but gpumod.yaml says host ${svc.host}`, `make --host and \`host:\` agree (127.0.0.1 unless other machines must reach it)`);
  }
}

function checkRouterUnit(svc: ServiceConfig, argv: string[], pass: Pass, fail: Fail): void {
  const { words, program } = commandView(argv);
  const edit = `systemctl --user edit --full ${svc.unit}`;
  if (!words.some((w) => /llama/i.test(w))) {
    fail('command', 'warning', `ExecStart runs ${program}, which does not show llama-server's command line: its flags cannot be checked`, 'run llama-server directly in ExecStart=, or check the script for --models-dir and --no-models-autoload');
    return;
  }
  if (hasFlag(words, '--models-dir', '--models-preset')) {
    pass('router', `router mode (${hasFlag(words, '--models-dir') ? '--models-dir' : '--models-preset'})`);
  } else if (hasFlag(words, '-m', '--model', '-hf', '--hf-repo')) {
    fail('router', 'error', 'llama-server runs one model (-m): not router mode, so gpumod cannot unload and load it', `replace -m FILE with --models-dir DIR (${edit})`);
  } else {
    fail('router', 'error', 'neither --models-dir nor --models-preset: the router has no models to offer', `add --models-dir DIR (a folder of .gguf files) or --models-preset FILE (${edit})`);
  }
  if (hasFlag(words, '--no-models-autoload')) {
    pass('autoload', 'models load only when asked (--no-models-autoload)');
  } else {
    fail('autoload', 'error', 'models autoload: any request would load the model behind gpumod, past the VRAM budget', `add --no-models-autoload (${edit})`);
  }
  const host = flagValue(words, '--host');
  if (host !== undefined && isWildcard(host)) fail('host', 'warning', `--host ${host}: the router (and its /models/load and /models/unload) is reachable from the network`, `use --host 127.0.0.1 (${edit})`);
  checkPortFlag(svc, words, 8080, pass, fail);
}

/** llama-server's default --models-max. */
const MODELS_MAX_DEFAULT = 4;

/**
 * A router loads at most --models-max models (loading one more unloads the least recently used), and
 * with --sleep-idle-seconds a model goes idle behind gpumod's back. Compared with what the modes need.
 */
function checkRouterModels(svc: ServiceConfig, argv: string[], config: Pick<Config, 'services' | 'modes'> | undefined, pass: Pass, fail: Fail): void {
  const { words } = commandView(argv);
  if (!words.some((w) => /llama/i.test(w))) return;
  const edit = `systemctl --user edit --full ${svc.unit}`;
  const given = flagValue(words, '--models-max');
  const max = given !== undefined && /^\d+$/.test(given) ? Number(given) : given === undefined ? MODELS_MAX_DEFAULT : undefined;
  const mates = config ? [...config.services.values()].filter((o) => o.driver === 'llamacpp' && o.unit === svc.unit).map((o) => o.name) : [svc.name];
  if (max !== undefined && max > 0 && config) {
    const needs = [...config.modes.values()].map((m) => ({ mode: m.name, models: m.services.filter((n) => mates.includes(n)) })).filter((n) => n.models.includes(svc.name));
    const over = needs.find((n) => n.models.length > max);
    if (over) {
      fail('models-max', 'error', `mode ${over.mode} needs ${over.models.length} models of ${svc.unit} (${over.models.join(', ')}), but --models-max is ${max}${given === undefined ? ' (the default)' : ''}: loading one would unload another, so gpumod refuses that switch`, `raise --models-max to ${over.models.length} (${edit}), or split the mode`);
    } else if (needs.length > 0) {
      pass('models-max', `--models-max ${max}${given === undefined ? ' (the default)' : ''} holds every mode's models of ${svc.unit} (at most ${Math.max(...needs.map((n) => n.models.length))})`);
    }
  }
  const idle = flagValue(words, '--sleep-idle-seconds');
  if (idle !== undefined && Number(idle) >= 0) {
    fail('idle-sleep', 'warning', `--sleep-idle-seconds ${idle}: an idle model goes to sleep behind gpumod's back (its process still holds memory), and any request reloads it`, `remove --sleep-idle-seconds (${edit}): gpumod unloads what a mode does not need`);
  }
}

function checkPortFlag(svc: ServiceConfig, words: string[], dflt: number, pass: Pass, fail: Fail): void {
  const given = flagValue(words, '--port');
  if (given !== undefined && !/^\d+$/.test(given)) return; // $PORT and the like: not knowable here
  const port = given === undefined ? dflt : Number(given);
  if (port === svc.port) pass('port-flag', `ExecStart serves port ${port}, as configured`);
  else fail('port-flag', 'error', `ExecStart serves port ${port}${given === undefined ? ' (the default)' : ''} but gpumod.yaml says port ${svc.port}`, `make --port in ExecStart= and \`port:\` agree`);
}

function checkEndpoint(svc: ServiceConfig, a: EndpointAnswer, pass: Pass, fail: Fail): void {
  if (a.status === undefined) {
    fail('endpoint', 'warning', `${a.request} failed: ${a.error ?? 'no answer'}`, `gpumod logs ${svc.name}`);
    return;
  }
  const body = a.body ?? '';
  let json: unknown;
  try {
    json = parseServerJson(body);
  } catch {
    json = undefined;
  }
  if (svc.driver === 'vllm') {
    if (a.status === 404) {
      fail('endpoint', 'error', `${a.request} answered 404: the server runs without ${DEV_MODE}=1 (dev mode missing)`, `add Environment=${DEV_MODE}=1 to ${svc.unit}, then systemctl --user restart ${svc.unit}`);
    } else if (a.status === 200 && typeof (json as { is_sleeping?: unknown })?.is_sleeping === 'boolean') {
      pass('endpoint', `${a.request} answers (${(json as { is_sleeping: boolean }).is_sleeping ? 'asleep' : 'awake'})`);
    } else {
      fail('endpoint', 'error', `${a.request} answered ${a.status}: ${excerpt(body)}`, `gpumod logs ${svc.name}`);
    }
  } else if (svc.driver === 'llamacpp') {
    const data = (json as { data?: unknown })?.data;
    if (a.status !== 200 || !Array.isArray(data)) {
      fail('endpoint', 'error', `${a.request} answered ${a.status} ${excerpt(body)}: not a llama.cpp router`, `run llama-server in router mode (no -m) on port ${svc.port}`);
      return;
    }
    const entry = data.find((m) => (m as { id?: unknown })?.id === svc.model) as { status?: { value?: unknown } } | undefined;
    if (entry) pass('endpoint', `${a.request} lists ${svc.model}${typeof entry.status?.value === 'string' ? ` (${entry.status.value})` : ''}`);
    else fail('endpoint', 'error', `${a.request} does not list ${svc.model} (it lists: ${offeredModels(data) || 'nothing'})`, `set \`model:\` to one of those, or put ${svc.model}.gguf in the router's --models-dir`);
  } else if (a.status >= 200 && a.status < 300) {
    pass('endpoint', `${a.request} answers ${a.status}`);
  } else {
    fail('endpoint', 'error', `${a.request} answered ${a.status}: ${excerpt(body)}`, `check the request in gpumod.yaml against the server's routes`);
  }
}

/** The request doctor sends to a running server, if any: the probe gpumod relies on. */
function endpointFor(svc: ServiceConfig): string | undefined {
  if (svc.driver === 'vllm') return sleeps(svc) ? '/is_sleeping' : undefined;
  if (svc.driver === 'llamacpp') return '/models';
  if (svc.driver === 'http' && svc.hooks?.probe.method === 'GET') return svc.hooks.probe.path;
  return undefined;
}

// ---- gathering the facts (I/O) ----

interface ProcView {
  sockets: TcpSocket[];
  /** inode → PID, filled lazily for the inodes asked about. */
  owners(inodes: number[]): Promise<Map<number, number>>;
}

async function readProcNet(procRoot: string): Promise<ProcView> {
  const le = endianness() === 'LE';
  const tables = await Promise.all(['net/tcp', 'net/tcp6'].map((f) => readFile(join(procRoot, f), 'utf8').catch(() => '')));
  const sockets = tables.flatMap((t) => parseProcNetTcp(t, le));
  return {
    sockets,
    async owners(inodes) {
      const wanted = new Set(inodes.filter((i) => i > 0));
      const found = new Map<number, number>();
      if (wanted.size === 0) return found;
      const pids = (await readdir(procRoot).catch(() => [] as string[])).filter((d) => /^\d+$/.test(d));
      await Promise.all(
        pids.map(async (pid) => {
          const fds = await readdir(join(procRoot, pid, 'fd')).catch(() => [] as string[]);
          for (const fd of fds) {
            const inode = socketInode(await readlink(join(procRoot, pid, 'fd', fd)).catch(() => ''));
            if (inode !== undefined && wanted.has(inode) && !found.has(inode)) found.set(inode, Number(pid));
          }
        }),
      );
      return found;
    },
  };
}

async function describePid(procRoot: string, pid: number): Promise<{ unit?: string; comm?: string }> {
  const [cgroup, comm] = await Promise.all([
    readFile(join(procRoot, String(pid), 'cgroup'), 'utf8').catch(() => ''),
    readFile(join(procRoot, String(pid), 'comm'), 'utf8').catch(() => ''),
  ]);
  return { unit: unitOfCgroupFile(cgroup), comm: comm.trim() || undefined };
}

interface GatherPorts {
  env: Env;
  log: Logger;
  http: HttpClient;
  show(unit: string): Promise<UnitStatus>;
  procRoot?: string;
  /** The learned footprints, compared with the config's declarations. */
  footprints?: Footprints;
  /** nvidia-smi, asked for the cards a CUDA_VISIBLE_DEVICES of UUIDs names. */
  gpu?: Pick<Gpu, 'snapshot'>;
}

async function gather(svc: ServiceConfig, ports: GatherPorts, proc: ProcView): Promise<ServiceFacts> {
  const facts: ServiceFacts = { envFileVars: new Map(), unreadableEnvFiles: [], listeners: [] };
  const procRoot = ports.procRoot ?? '/proc';
  try {
    facts.unit = await ports.show(svc.unit);
  } catch (e) {
    facts.unitError = errorMessage(e);
  }
  if (facts.unit?.loadState === 'loaded') {
    const r = await runProcess(resolveBinary('systemctl', ports.env), ['--user', 'cat', '--', svc.unit], { timeoutMs: 10_000, env: ports.env, reject: false }, ports.log).catch(
      (e: unknown) => ({ exitCode: -1, stdout: '', stderr: errorMessage(e) }),
    );
    if (r.exitCode === 0) facts.unitText = r.stdout;
    else facts.unitTextError = r.stderr.trim().split('\n')[0] || `systemctl cat exited ${r.exitCode}`;
    for (const file of facts.unitText ? parseServiceSection(facts.unitText).environmentFiles : []) {
      try {
        if (file.includes('%')) throw new Error('specifiers');
        for (const [k, v] of parseEnvironmentFile(await readFile(file, 'utf8'))) facts.envFileVars.set(k, v);
      } catch {
        facts.unreadableEnvFiles.push(file);
      }
    }
  }
  const sockets = listenersOn(proc.sockets, svc.port, svc.host);
  const owners = await proc.owners(sockets.map((s) => s.inode));
  const seen = new Set<string>();
  for (const s of sockets) {
    const pid = owners.get(s.inode);
    const key = `${pid ?? '?'}@${s.address}`;
    if (seen.has(key)) continue;
    seen.add(key);
    facts.listeners.push(pid === undefined ? { address: s.address } : { address: s.address, pid, ...(await describePid(procRoot, pid)) });
  }
  const path = endpointFor(svc);
  const ownsPort = facts.listeners.some((l) => l.unit === svc.unit);
  if (path && ownsPort && ACTIVE.has(facts.unit?.activeState ?? '')) {
    const request = `GET ${path}`;
    try {
      const res = await ports.http.request({ method: 'GET', url: baseUrl(svc) + path, timeoutMs: 5000 });
      facts.endpoint = { request, status: res.status, body: res.body };
    } catch (e) {
      facts.endpoint = { request, error: errorMessage(e) };
    }
  }
  return facts;
}

/** Every finding of the configured services (or of `only`), in config order. */
export async function runDoctor(config: Config, ports: GatherPorts, only: string[] = []): Promise<Finding[]> {
  const manager = await runProcess(resolveBinary('systemctl', ports.env), ['--user', 'show', '-p', 'Version', '--value'], { timeoutMs: 10_000, env: ports.env, reject: false }, ports.log).catch(
    (e: unknown) => ({ exitCode: -1, stdout: '', stderr: errorMessage(e) }),
  );
  if (manager.exitCode !== 0) {
    return [
      {
        service: '*',
        check: 'manager',
        ok: false,
        severity: 'error',
        message: `systemctl --user reaches no user manager: ${manager.stderr.trim().split('\n')[0] || `exit ${manager.exitCode}`}`,
        fix: 'run gpumod in your login session (XDG_RUNTIME_DIR set), or enable lingering: loginctl enable-linger $USER',
      },
    ];
  }
  const proc = await readProcNet(ports.procRoot ?? '/proc');
  const services = [...config.services.values()].filter((s) => only.length === 0 || only.includes(s.name));
  const facts = await Promise.all(services.map((svc) => gather(svc, ports, proc)));
  // One nvidia-smi look for every service, and none unless a unit pins its cards.
  if (ports.gpu && facts.some((f) => f.unitText !== undefined && devicesFacts(f.unitText, f).setting)) {
    const snap = await ports.gpu.snapshot({ timeoutMs: 10_000 }).catch((e: unknown) => ({ available: false as const, reason: errorMessage(e) }));
    if (snap.available) {
      const cards = snap.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name }));
      for (const f of facts) f.cards = cards;
    } else {
      ports.log.info(`doctor: ${snap.reason}; CUDA_VISIBLE_DEVICES UUIDs cannot be resolved`);
    }
  }
  return services.flatMap((svc, i) => [...checkService(svc, facts[i], config), ...checkFootprint(svc, lookup(ports.footprints ?? {}, svc, facts[i].unit?.execStart))]);
}

export function findingsJson(findings: readonly Finding[]): unknown {
  const errors = findings.filter((f) => !f.ok && f.severity === 'error').length;
  const warnings = findings.filter((f) => !f.ok && f.severity === 'warning').length;
  return {
    ok: errors === 0,
    errors,
    warnings,
    findings: findings.map((f) => ({ service: f.service, check: f.check, ok: f.ok, severity: f.severity, message: f.message, fix: f.fix ?? null })),
  };
}

/** The findings as text: a block per service, each failed check followed by its fix. */
export function findingsText(findings: readonly Finding[], config: Config): string {
  const lines: string[] = [];
  const width = Math.max(...findings.map((f) => f.check.length));
  let last: string | undefined;
  for (const f of findings) {
    if (f.service !== last) {
      const svc = config.services.get(f.service);
      lines.push(svc ? `${svc.name} (${svc.driver}, ${svc.unit}, port ${svc.port})` : f.service === '*' ? 'this machine' : f.service);
      last = f.service;
    }
    const mark = f.ok ? 'ok   ' : f.severity === 'error' ? 'ERROR' : 'warn ';
    lines.push(`  ${mark} ${f.check.padEnd(width)}  ${f.message}`);
    if (!f.ok && f.fix) lines.push(`  ${' '.repeat(5)} ${' '.repeat(width)}  fix: ${f.fix}`);
  }
  const errors = findings.filter((f) => !f.ok && f.severity === 'error').length;
  const warnings = findings.filter((f) => !f.ok && f.severity === 'warning').length;
  const n = new Set(findings.map((f) => f.service).filter((s) => s !== '*')).size;
  const plural = (k: number, w: string): string => `${k} ${w}${k === 1 ? '' : 's'}`;
  lines.push('', errors + warnings === 0 ? `${plural(n, 'service')} checked: no problems.` : `${plural(n, 'service')} checked: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}.`);
  return lines.join('\n') + '\n';
}

/** `gpumod doctor [SERVICE…] [--json]`: exit 0 without errors (warnings allowed), 1 with any. */
export async function doctorCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'json', 'verbose']);
  return withSession(args, io, async ({ config, machine }) => {
    const unknown = args.positional.filter((n) => !config.services.has(n));
    if (unknown.length > 0) throw new UsageError(`unknown service ${unknown.map((n) => `"${n}"`).join(', ')} (services: ${[...config.services.keys()].join(', ')})`);
    const log = machine.ports.log;
    const footprints = await machine.ports.store.readFootprints();
    const findings = await runDoctor(config, { env: io.env, log, http: machine.http, show: (unit) => machine.systemd.show(unit, { timeoutMs: 10_000 }), footprints, gpu: machine.ports.gpu }, args.positional);
    if (args.flags.has('json')) io.out(JSON.stringify(findingsJson(findings)) + '\n');
    else io.out(findingsText(findings, config));
    return findings.some((f) => !f.ok && f.severity === 'error') ? EXIT.failed : EXIT.ok;
  });
}
