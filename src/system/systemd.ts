// `systemctl --user` adapter: the only place that knows systemctl's command lines and output formats.
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpumodError } from '../errors';
import type { Logger } from '../engine/logger';
import { resolveBinary, runProcess, type Env, type ProcessResult } from './process';
import type { ProcessOptions, Systemd, UnitLook, UnitStatus } from '../engine/machinePorts';
import { parseJournalJson, type JournalEntry } from './journal';
import { rssKb } from './pids';
import { createUnitWatch, userBusAddress } from './unitWatch';

/** The properties `show` asks for; the manager prints them in its own order, so they are parsed by key. */
export const SHOW_PROPERTIES = [
  'LoadState',
  'ActiveState',
  'SubState',
  'MainPID',
  'Result',
  'ExecMainStatus',
  'ControlGroup',
  'NRestarts',
  'StateChangeTimestampMonotonic',
  'ExecStart',
] as const;

/** Asked besides SHOW_PROPERTIES when several units are shown at once: they say whose block is whose. */
export const BATCH_KEYS = ['Id', 'Names'] as const;

export interface SystemdOptions {
  /** Merged over process.env for every child (the test sandbox's XDG_RUNTIME_DIR etc.). */
  env?: Env;
  /** Decides the journalctl form; defaults to process.getuid(). */
  uid?: number;
  /** Where cgroup hierarchies are mounted; default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Deadline when the caller gives none: start/stop wait for the job (a stop can take TimeoutStopSec). */
  defaultTimeoutMs?: number;
  /**
   * Follow the manager on the user bus (system/unitWatch.ts) so that units unchanged since the last
   * `show` are not shown again: for long-lived machines, which call close() when done.
   */
  watch?: boolean;
}

/** Systemd plus what only the CLI, the demo and tests need. */
export interface SystemdAdapter extends Systemd {
  /** `systemd-run --user --unit=UNIT -p K=V … -- argv`: a transient service (the demo's fake servers). */
  runTransient(unit: string, argv: readonly string[], props?: Readonly<Record<string, string>>, opts?: ProcessOptions): Promise<void>;
  daemonReload(opts?: ProcessOptions): Promise<void>;
  /** `systemctl --user enable [--now]`: started with the user's session from now on. */
  enable(unit: string, now: boolean, opts?: ProcessOptions): Promise<void>;
  /** The last `lines` entries of the unit's journal, parsed (`gpumod logs --json`). */
  journalEntries(unit: string, lines: number, opts?: ProcessOptions): Promise<JournalEntry[]>;
  /**
   * Every service unit the manager knows: its unit files (`list-unit-files`, templates left out: only
   * their instances run) and its loaded units (`list-units --all`: transient and running ones too).
   */
  listServices(opts?: ProcessOptions): Promise<{ files: UnitListing[]; loaded: UnitListing[] }>;
  /**
   * `properties` of every unit in one `systemctl show`, as parsed maps by unit. A unit the manager
   * rejects is asked alone, and left out if it still cannot be shown.
   */
  showProperties(units: readonly string[], properties: readonly string[], opts?: ProcessOptions): Promise<Map<string, Map<string, string>>>;
  /** `systemctl --user show-environment`: what every unit of the manager inherits (environment.d, set-environment). */
  managerEnvironment(opts?: ProcessOptions): Promise<Record<string, string>>;
  /** Ends the bus connection of a watching adapter (nothing else holds resources). */
  close(): void;
}

const UNIT_NAME_MAX = 255;

/**
 * Throws CONFIG_INVALID unless `name` is a plain systemd service name. The config validates names
 * already; this guards the command lines (no option injection, no paths) whatever the caller.
 */
export function validateUnitName(name: string): string {
  const fail = (why: string): never => {
    throw new GpumodError('CONFIG_INVALID', `invalid systemd unit name ${JSON.stringify(name)}: ${why}`);
  };
  if (typeof name !== 'string' || name === '') fail('empty');
  if (name.length > UNIT_NAME_MAX) fail(`longer than ${UNIT_NAME_MAX} characters`);
  if (name.startsWith('-')) fail('must not start with "-"');
  if (!name.endsWith('.service')) fail('must end in ".service"');
  if (!/^[A-Za-z0-9:_.\\@-]+$/.test(name)) fail('only letters, digits and ":-_.\\@" are allowed');
  const prefix = name.slice(0, -'.service'.length);
  if (prefix === '') fail('empty name before ".service"');
  const at = prefix.indexOf('@');
  if (at === 0) fail('empty name before "@"');
  if (at !== -1 && prefix.indexOf('@', at + 1) !== -1) fail('more than one "@"');
  return name;
}

/**
 * `Key=Value` lines into a map. Values may contain "=" (only the first one splits). A key printed on
 * several lines (ExecStart= of a oneshot, EnvironmentFiles=) keeps every value, one a line.
 */
export function parseShow(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const prev = map.get(key);
    map.set(key, prev === undefined ? line.slice(eq + 1) : `${prev}\n${line.slice(eq + 1)}`);
  }
  return map;
}

/** One line of `systemctl list-units` / `list-unit-files` (`--plain --no-legend`): the unit and its states. */
export interface UnitListing {
  unit: string;
  /** list-unit-files: enabled | disabled | static | generated | transient | …; list-units: the load state. */
  state: string;
}

/** `--plain --no-legend` listings: the first column is the unit, the second its (file or load) state. */
export function parseUnitList(text: string): UnitListing[] {
  const out: UnitListing[] = [];
  for (const raw of text.split('\n')) {
    const [unit, state] = raw.replace(/^[\s●*]+/, '').split(/\s+/);
    if (unit && unit.endsWith('.service')) out.push({ unit, state: state ?? '' });
  }
  return out;
}

/** `systemctl show` of several units: one block of `Key=Value` lines per unit, an empty line between blocks. */
export function parseShowBlocks(text: string): Map<string, string>[] {
  const blocks: Map<string, string>[] = [];
  let lines: string[] = [];
  for (const raw of [...text.split('\n'), '']) {
    const line = raw.replace(/\r$/, '');
    if (line !== '') lines.push(line);
    else if (lines.length > 0) {
      blocks.push(parseShow(lines.join('\n')));
      lines = [];
    }
  }
  return blocks;
}

/**
 * Which block answers which unit, by the block's Id or one of its Names (an alias is shown under the
 * unit it names). Not by position: systemctl stops at the first name it rejects, and a name it has
 * to escape comes back escaped. Units no block names are left out.
 */
export function matchBlocks(units: readonly string[], blocks: readonly Map<string, string>[]): Map<string, Map<string, string>> {
  const matched = new Map<string, Map<string, string>>();
  for (const block of blocks) {
    const names = [block.get('Id') ?? '', ...(block.get('Names') ?? '').split(/\s+/)].filter((n) => n !== '');
    const unit = units.find((u) => !matched.has(u) && names.includes(u));
    if (unit !== undefined) matched.set(unit, block);
  }
  return matched;
}

function int(value: string | undefined): number {
  if (value === undefined || !/^-?\d+$/.test(value.trim())) return 0;
  return Number(value.trim());
}

/** CLOCK_MONOTONIC now, in µs (libuv's hrtime is CLOCK_MONOTONIC on Linux, the clock systemd stamps with). */
function monotonicNowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The parsed `show` map as a UnitStatus. StateChangeTimestampMonotonic is converted to epoch µs
 * against the clocks at `now` (injectable for tests).
 */
export function unitStatusFromShow(
  unit: string,
  map: ReadonlyMap<string, string>,
  now: { epochUs: number; monotonicUs: number } = { epochUs: Date.now() * 1000, monotonicUs: monotonicNowUs() },
): UnitStatus {
  const mono = int(map.get('StateChangeTimestampMonotonic'));
  const execStart = execArgv(map.get('ExecStart'));
  return {
    unit,
    loadState: map.get('LoadState') ?? 'unknown',
    activeState: map.get('ActiveState') ?? 'unknown',
    subState: map.get('SubState') ?? 'unknown',
    mainPid: int(map.get('MainPID')),
    result: map.get('Result') ?? '',
    execMainStatus: int(map.get('ExecMainStatus')),
    controlGroup: map.get('ControlGroup') ?? '',
    nRestarts: int(map.get('NRestarts')),
    stateChangeUs: mono > 0 ? Math.max(0, now.epochUs - (now.monotonicUs - mono)) : 0,
    ...(execStart !== undefined ? { execStart } : {}),
  };
}

/**
 * The command lines of an ExecStart value, `{ path=… ; argv[]=… ; ignore_errors=no ; start_time=[…] ;
 * pid=… }` per command: only the argv, since the run-time fields change at every start.
 */
export function execArgv(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const argv = [...value.matchAll(/argv\[\]=(.*?) ; ignore_errors=/g)].map((m) => m[1]);
  return argv.length > 0 ? argv.join('\n') : value.trim();
}

/** Every PID in a cgroup directory and its descendants (services with Delegate= have sub-cgroups). */
async function cgroupPids(dir: string, into: Set<number>): Promise<boolean> {
  let procs: string;
  try {
    procs = await readFile(join(dir, 'cgroup.procs'), 'utf8');
  } catch {
    return false;
  }
  for (const line of procs.split('\n')) {
    const pid = Number(line.trim());
    if (Number.isInteger(pid) && pid > 0) into.add(pid);
  }
  let entries: Dirent[] = [];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return true;
  }
  await Promise.all(entries.filter((e) => e.isDirectory()).map((e) => cgroupPids(join(dir, e.name), into)));
  return true;
}

export function createSystemd(log: Logger, options: SystemdOptions = {}): SystemdAdapter {
  const env = options.env ?? {};
  const uid = options.uid ?? process.getuid?.() ?? -1;
  const cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 120_000;
  // A systemctl put in its place (tests' faults) is what gpumod is to believe: no bus then.
  const busAddress = options.watch && resolveBinary('systemctl', env) === 'systemctl' ? userBusAddress(env) : undefined;
  const watch = busAddress ? createUnitWatch(busAddress, log) : undefined;
  watch?.warm();

  const systemctl = (args: string[], opts: ProcessOptions | undefined, reject = true): Promise<ProcessResult> =>
    runProcess(
      resolveBinary('systemctl', env),
      ['--user', ...args],
      { timeoutMs: opts?.timeoutMs ?? defaultTimeoutMs, signal: opts?.signal, env, reject },
      log,
    );

  const job = async (verb: 'start' | 'stop' | 'restart', unit: string, opts?: ProcessOptions): Promise<void> => {
    validateUnitName(unit);
    await systemctl([verb, '--', unit], opts);
  };

  const journalctl = async (unit: string, lines: number, output: 'short-iso' | 'json', opts?: ProcessOptions): Promise<string> => {
    validateUnitName(unit);
    const n = String(Math.max(1, Math.floor(lines)));
    // Root's user-unit entries land in the system journal, where only --user-unit finds them.
    const select = uid === 0 ? [`--user-unit=${unit}`] : ['--user', '-u', unit];
    const r = await runProcess(
      resolveBinary('journalctl', env),
      [...select, '-n', n, '-o', output, '--no-pager', '--quiet'],
      { timeoutMs: opts?.timeoutMs ?? 15_000, signal: opts?.signal, env },
      log,
    );
    return r.stdout;
  };

  const unitPids = async (status: UnitStatus): Promise<number[]> => {
    const cg = status.controlGroup;
    if (!cg || !cg.startsWith('/') || cg.split('/').includes('..')) return [];
    const found = new Set<number>();
    // Hybrid hierarchy (unified + name=systemd) or pure cgroup v2; read every one that exists.
    const candidates = [join(cgroupRoot, 'unified', cg), join(cgroupRoot, 'systemd', cg), join(cgroupRoot, cg)];
    await Promise.all(candidates.map((dir) => cgroupPids(dir, found)));
    return [...found].sort((a, b) => a - b);
  };

  const showOne = async (unit: string, opts?: ProcessOptions): Promise<UnitStatus> => {
    validateUnitName(unit);
    const r = await systemctl(['show', '-p', SHOW_PROPERTIES.join(','), '--', unit], opts);
    return unitStatusFromShow(unit, parseShow(r.stdout));
  };

  const showMany = async (units: readonly string[], opts?: ProcessOptions): Promise<UnitLook[]> => {
    const found = new Map<string, UnitLook>();
    for (const unit of units) {
      try {
        validateUnitName(unit);
      } catch (reason) {
        found.set(unit, { status: 'rejected', reason });
      }
    }
    const valid = [...new Set(units)].filter((u) => !found.has(u));
    const now = watch && valid.length > 0 ? await watch.states(valid) : undefined;
    const mark = watch?.mark();
    if (now) {
      for (const u of valid) {
        const kept = watch?.cached(u, now.get(u)!);
        if (kept) found.set(u, { status: 'fulfilled', value: kept });
      }
    }
    const asked = valid.filter((u) => !found.has(u));
    if (asked.length > 0) {
      let out: ProcessResult | undefined;
      try {
        out = await systemctl(['show', '-p', [...BATCH_KEYS, ...SHOW_PROPERTIES].join(','), '--', ...asked], opts, false);
      } catch (reason) {
        // No answer at all (deadline, cancel, no systemctl): one call per unit would fare no better.
        for (const unit of asked) found.set(unit, { status: 'rejected', reason });
      }
      if (out) {
        for (const [unit, block] of matchBlocks(asked, parseShowBlocks(out.stdout))) found.set(unit, { status: 'fulfilled', value: unitStatusFromShow(unit, block) });
        // A name the manager rejects ends the batch there (exit 1): it and those after it are asked
        // alone, so each gets its own answer, the rejected one its own error.
        const rest = asked.filter((u) => !found.has(u));
        if (rest.length > 0) {
          log.info(`systemctl show answered ${asked.length - rest.length} of ${asked.length} units (exit ${out.exitCode}): asking ${rest.join(', ')} one by one`);
          const alone = await Promise.allSettled(rest.map((u) => showOne(u, opts)));
          rest.forEach((u, i) => found.set(u, alone[i]));
        }
      }
      if (now) {
        for (const u of asked) {
          const look = found.get(u);
          if (look?.status === 'fulfilled') watch?.remember(look.value, now.get(u)!, mark);
        }
      }
    }
    return units.map((u) => found.get(u) as UnitLook);
  };

  const show = async (unit: string, opts?: ProcessOptions): Promise<UnitStatus> => {
    if (!watch) return showOne(unit, opts);
    validateUnitName(unit);
    const [look] = await showMany([unit], opts);
    if (look.status === 'rejected') throw look.reason;
    return look.value;
  };

  const showProperties = async (units: readonly string[], properties: readonly string[], opts?: ProcessOptions): Promise<Map<string, Map<string, string>>> => {
    for (const p of properties) {
      if (!/^[A-Za-z]+$/.test(p)) throw new GpumodError('USAGE', `not a systemd property name: ${JSON.stringify(p)}`);
    }
    const asked = [...new Set(units)].filter((u) => {
      try {
        return validateUnitName(u) === u;
      } catch {
        return false;
      }
    });
    const found = new Map<string, Map<string, string>>();
    if (asked.length === 0) return found;
    const props = [...new Set([...BATCH_KEYS, ...properties])].join(',');
    const out = await systemctl(['show', '-p', props, '--', ...asked], opts, false);
    for (const [unit, block] of matchBlocks(asked, parseShowBlocks(out.stdout))) found.set(unit, block);
    const rest = asked.filter((u) => !found.has(u));
    const alone = await Promise.all(rest.map((u) => systemctl(['show', '-p', props, '--', u], opts, false).catch(() => undefined)));
    rest.forEach((u, i) => {
      const block = alone[i]?.exitCode === 0 ? parseShowBlocks(alone[i]?.stdout ?? '')[0] : undefined;
      if (block) found.set(u, block);
    });
    return found;
  };

  return {
    show,
    showMany,
    showProperties,

    close: () => watch?.close(),

    async managerEnvironment(opts) {
      const out = await systemctl(['show-environment'], opts);
      return Object.fromEntries(parseShow(out.stdout));
    },

    async listServices(opts) {
      const [files, loaded] = await Promise.all([
        systemctl(['list-unit-files', '--type=service', '--plain', '--no-legend', '--no-pager'], opts),
        systemctl(['list-units', '--type=service', '--all', '--plain', '--no-legend', '--no-pager'], opts),
      ]);
      return {
        files: parseUnitList(files.stdout).filter((u) => !u.unit.endsWith('@.service')),
        loaded: parseUnitList(loaded.stdout),
      };
    },

    start: (unit, opts) => job('start', unit, opts),
    stop: (unit, opts) => job('stop', unit, opts),
    restart: (unit, opts) => job('restart', unit, opts),

    async isActive(unit, opts) {
      validateUnitName(unit);
      // Exit 3 is the normal answer for inactive/failed; only an empty answer is an error.
      const r = await systemctl(['is-active', '--', unit], opts, false);
      const state = r.stdout.trim();
      if (state === '') {
        throw new GpumodError('PROCESS_FAILED', `systemctl --user is-active ${unit} exited ${r.exitCode}: ${r.stderr.trim() || '(no output)'}`);
      }
      return state;
    },

    journal(unit, lines, opts) {
      return journalctl(unit, lines, 'short-iso', opts).then((out) => (out.trim() === '-- No entries --' ? '' : out));
    },

    async journalEntries(unit, lines, opts) {
      return parseJournalJson(await journalctl(unit, lines, 'json', opts));
    },

    pids: unitPids,

    async rssMb(status) {
      const pids = await unitPids(status);
      if (pids.length === 0) return undefined;
      const kb = await Promise.all(pids.map(rssKb));
      // A process that exited between the listing and the read holds nothing.
      return Math.round(kb.reduce((sum: number, k) => sum + (k ?? 0), 0) / 1024);
    },

    async runTransient(unit, argv, props = {}, opts) {
      validateUnitName(unit);
      if (argv.length === 0) throw new GpumodError('USAGE', `runTransient ${unit}: empty command`);
      const propArgs: string[] = [];
      for (const [k, v] of Object.entries(props)) {
        if (!/^[A-Za-z][A-Za-z0-9]*$/.test(k)) throw new GpumodError('USAGE', `runTransient ${unit}: bad property name ${JSON.stringify(k)}`);
        propArgs.push('-p', `${k}=${v}`);
      }
      await runProcess(
        resolveBinary('systemd-run', env),
        ['--user', `--unit=${unit}`, ...propArgs, '--', ...argv],
        { timeoutMs: opts?.timeoutMs ?? defaultTimeoutMs, signal: opts?.signal, env },
        log,
      );
    },

    async daemonReload(opts) {
      await systemctl(['daemon-reload'], opts);
    },

    async enable(unit, now, opts) {
      validateUnitName(unit);
      await systemctl(['enable', ...(now ? ['--now'] : []), '--', unit], opts);
    },

    async resetFailed(unit, opts) {
      validateUnitName(unit);
      await systemctl(['reset-failed', '--', unit], opts, false);
    },
  };
}
