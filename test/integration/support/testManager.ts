// The systemd user manager the integration tier runs against, and everything the tier puts in it.
//
// Two kinds (test/integration/setup.ts chooses once per run and publishes the choice in process.env,
// because each test file is its own bundle and module state cannot carry it):
// - `session`: the manager `systemctl --user` already reaches (a user's login session, or one CI
//   started first). The tier touches nothing of it but its own runtime unit files,
//   `gpumod-test-<run>-*.service` in $XDG_RUNTIME_DIR/systemd/user, and keeps gpumod's own files
//   (HOME, XDG_*_HOME) in a scratch directory. Everything is removed at the end, also on Ctrl-C.
// - `sandbox`: root without a reachable manager: a manager of its own in a private mount namespace
//   (scripts/userManager.sh), stopped at the end.
// Tests pass `managerEnv()` explicitly (adapters' `env` option, children's environment), so nothing
// in the test process talks to a manager by accident.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../../src/system/logger';
import { createSystemd, validateUnitName, type SystemdAdapter } from '../../../src/system/systemd';
import { unitFileText, type UnitSpec } from '../../../src/system/unitFile';
import { sandboxVars } from './sandbox';

export type ManagerKind = 'session' | 'sandbox';

/** The run's scratch directory (and, for a sandbox, the manager's directory). */
export const SCRATCH_VAR = 'GPUMOD_TEST_SANDBOX';
export const KIND_VAR = 'GPUMOD_TEST_MANAGER';
export const RUN_VAR = 'GPUMOD_TEST_RUN';
/** The first of PORT_SPAN loopback ports found free for this run. */
export const PORT_VAR = 'GPUMOD_TEST_PORT_BASE';
export const PORT_SPAN = 1200;

function published(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run mocha with --require out/test/integration/setup.js`);
  return v;
}

export function scratchDir(): string {
  return published(SCRATCH_VAR);
}

export function managerKind(): ManagerKind {
  return published(KIND_VAR) === 'session' ? 'session' : 'sandbox';
}

/** `gpumod-test-<run>-`: every unit of this run starts with it. */
export function unitPrefix(run: string = published(RUN_VAR)): string {
  return `gpumod-test-${run}-`;
}

/** This run's name for a unit: `unitName('server')` → `gpumod-test-<run>-server.service`. */
export function unitName(base: string): string {
  return validateUnitName(`${unitPrefix()}${base.replace(/\.service$/, '')}.service`);
}

/** Port `offset` of the run's free range: fixed offsets per test file, never a port the user's servers hold. */
export function testPort(offset: number): number {
  if (!(offset >= 0 && offset < PORT_SPAN)) throw new Error(`port offset ${offset} is outside the run's ${PORT_SPAN} ports`);
  return Number(published(PORT_VAR)) + offset;
}

/** `text` as a literal inside a RegExp (unit names carry dots). */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The user's runtime directory, where a session manager listens. */
export function sessionRuntimeDir(): string {
  return process.env.XDG_RUNTIME_DIR || `/run/user/${process.getuid?.() ?? 0}`;
}

/** How a session is reached, and gpumod's own files kept in `scratch`, never in the user's home. */
export function sessionVars(scratch: string): Record<string, string> {
  const home = join(scratch, 'home');
  const vars: Record<string, string> = {
    XDG_RUNTIME_DIR: sessionRuntimeDir(),
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local/share'),
    XDG_STATE_HOME: join(home, '.local/state'),
    XDG_CACHE_HOME: join(home, '.cache'),
  };
  if (process.env.DBUS_SESSION_BUS_ADDRESS) vars.DBUS_SESSION_BUS_ADDRESS = process.env.DBUS_SESSION_BUS_ADDRESS;
  return vars;
}

let envCache: Record<string, string> | undefined;

/** XDG_RUNTIME_DIR (the manager), HOME and XDG_*_HOME (gpumod's files) of this run. */
export function managerEnv(): Record<string, string> {
  envCache ??= managerKind() === 'session' ? sessionVars(scratchDir()) : sandboxVars(scratchDir());
  return { ...envCache };
}

/** Where this run's unit files go: the manager's runtime unit directory (never enabled, never the user's). */
export function unitDir(env: Record<string, string> = managerEnv()): string {
  return join(env.XDG_RUNTIME_DIR, 'systemd/user');
}

/** An adapter bound to this run's manager. */
export function managerSystemd(): SystemdAdapter {
  return createSystemd(silentLogger, { env: managerEnv() });
}

export function unitPath(name: string): string {
  return join(unitDir(), validateUnitName(name));
}

/** The manager's own cgroup (`/user.slice/user-1000.slice/user@1000.service`): its units run below it. */
export function managerCgroup(): string {
  const cg = execFileSync('systemctl', ['--user', 'show', '-p', 'ControlGroup', '--value'], { env: { ...process.env, ...managerEnv() }, encoding: 'utf8', timeout: 10_000 }).trim();
  if (!cg.startsWith('/')) throw new Error(`the manager reports no cgroup (${JSON.stringify(cg)})`);
  return cg;
}

/** Writes the unit into the run's unit directory and reloads the manager. */
export async function installUnit(name: string, spec: UnitSpec): Promise<string> {
  const path = unitPath(name);
  writeFileSync(path, unitFileText(name, spec));
  await managerSystemd().daemonReload({ timeoutMs: 15_000 });
  return path;
}

/** Stops the unit (if running), forgets a failed state, deletes its file and reloads. */
export async function removeUnit(name: string): Promise<void> {
  const sd = managerSystemd();
  await sd.stop(name, { timeoutMs: 15_000 }).catch(() => undefined);
  await sd.resetFailed(name, { timeoutMs: 15_000 }).catch(() => undefined);
  try {
    unlinkSync(unitPath(name));
  } catch {
    /* already gone */
  }
  await sd.daemonReload({ timeoutMs: 15_000 });
}

// ---- the run's clean-up and its check (synchronous: it also runs from exit and signal handlers) ----

function systemctl(env: NodeJS.ProcessEnv, args: string[]): string {
  try {
    return execFileSync('systemctl', ['--user', ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  } catch (e) {
    return String((e as { stdout?: unknown }).stdout ?? '');
  }
}

/** Units of the run the manager knows (loaded, running, failed, transient). */
function knownUnits(env: NodeJS.ProcessEnv, prefix: string): string[] {
  const out = systemctl(env, ['list-units', '--all', '--plain', '--no-legend', '--', `${prefix}*`]);
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((u) => u?.startsWith(prefix));
}

function runFiles(dir: string, prefix: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(prefix)) : [];
}

/** Stops every unit of the run, forgets them and deletes their files (drop-in folders too). */
export function removeRunUnits(vars: Record<string, string>, run: string): void {
  const env = { ...process.env, ...vars };
  const prefix = unitPrefix(run);
  const dir = unitDir(vars);
  const units = [...new Set([...knownUnits(env, prefix), ...runFiles(dir, prefix).filter((f) => f.endsWith('.service'))])];
  if (units.length > 0) {
    systemctl(env, ['stop', '--', ...units]);
    systemctl(env, ['reset-failed', '--', ...units]);
  }
  for (const f of runFiles(dir, prefix)) rmSync(join(dir, f), { recursive: true, force: true });
  systemctl(env, ['daemon-reload']);
}

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // exit 1: none
  }
}

/** What a run left behind in the manager and on disk: units, unit files, processes, its scratch directory. */
export function runLeftovers(vars: Record<string, string>, run: string, scratch: string): string[] {
  const env = { ...process.env, ...vars };
  const prefix = unitPrefix(run);
  const left: string[] = [];
  for (const u of knownUnits(env, prefix)) left.push(`unit ${u} is still known to the manager`);
  for (const f of runFiles(unitDir(vars), prefix)) left.push(`${join(unitDir(vars), f)} is still there`);
  for (const pid of pgrep(scratch)) if (pid !== process.pid) left.push(`PID ${pid} still runs with ${scratch} in its command line`);
  for (const pid of pgrep(prefix)) left.push(`PID ${pid} still runs with ${prefix} in its command line`);
  if (existsSync(scratch)) left.push(`${scratch} is still there`);
  return left;
}
