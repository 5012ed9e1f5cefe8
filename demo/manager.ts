import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './workstation';

/**
 * The systemd user manager the demo's units run under.
 *
 * - The user's own session, when `systemctl --user` reaches one: the demo then touches nothing of
 *   the user's but its own unit files, written under `$XDG_RUNTIME_DIR/systemd/user/` (runtime
 *   units: never enabled, gone at logout at the latest) with the prefix `gpumod-demo-`, and removed
 *   at the end. Not transient units (`systemd-run --user`): a transient unit is garbage-collected as
 *   soon as it stops, so gpumod could not start it again — and stopping and starting services is
 *   exactly what a mode switch does.
 * - Otherwise (containers, CI, root without a login session) a sandboxed manager of its own, started
 *   with scripts/userManager.sh in a private mount namespace and stopped at the end.
 */
export interface DemoManager {
  kind: 'session' | 'sandbox';
  /** Variables that reach the manager (empty for the session: the demo's own environment does). */
  env: Record<string, string>;
  /** Where unit files go: the manager's runtime unit directory. */
  unitDir: string;
  /** For the reader: "your systemd user session (systemd 252)". */
  description: string;
  /** Stops the sandbox manager (nothing for the session). */
  stop(): Promise<void>;
}

export const UNIT_PREFIX = 'gpumod-demo-';
const USER_MANAGER = join(REPO, 'scripts/userManager.sh');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    // Own process group: a second Ctrl-C at the terminal must not kill the clean-up half-way.
    const child = spawn(file, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stdout, stderr });
    });
  });
}

/** The manager's version when `systemctl --user` reaches one with these variables, else undefined. */
export async function managerVersion(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const r = await run('systemctl', ['--user', 'show', '-p', 'Version', '--value'], env, 10_000);
  const v = r.stdout.trim();
  return r.code === 0 && v !== '' ? v : undefined;
}

function sessionRuntimeDir(): string {
  return process.env.XDG_RUNTIME_DIR || `/run/user/${process.getuid?.() ?? 0}`;
}

/** Unit files of an earlier demo that did not get to clean up (killed with SIGKILL, say). */
export function leftoverUnitFiles(unitDir: string): string[] {
  try {
    return readdirSync(unitDir).filter((f) => f.startsWith(UNIT_PREFIX) && f.endsWith('.service'));
  } catch {
    return [];
  }
}

/**
 * The user's session when reachable, else a sandbox manager in `scratch` (root only). `force`
 * overrides the choice (tests and curious users: `--manager sandbox`).
 */
export async function chooseManager(scratch: string, force?: 'session' | 'sandbox'): Promise<DemoManager> {
  const version = force === 'sandbox' ? undefined : await managerVersion();
  if (version !== undefined) {
    const unitDir = join(sessionRuntimeDir(), 'systemd/user');
    const busy = await activeLeftovers(unitDir);
    if (busy.length > 0) throw new Error(`another gpumod demo is running in your session (${busy.join(', ')} active); stop it first`);
    const created = !existsSync(unitDir);
    return {
      kind: 'session',
      env: {},
      unitDir,
      description: `your systemd user session (systemd ${version}); units ${UNIT_PREFIX}* in ${unitDir}`,
      // The session is the user's: only the directory the demo created goes, and only when empty.
      stop: async () => {
        if (created) rmdirIfEmpty(unitDir);
      },
    };
  }
  if (force === 'session') throw new Error('no systemd user session is reachable (systemctl --user show failed)');
  if (process.getuid?.() !== 0) {
    throw new Error(
      'no systemd user session is reachable (systemctl --user show failed), and a sandboxed manager needs root. ' +
        'Log in with a session (loginctl enable-linger $USER) or run the demo as root in a container.',
    );
  }
  const dir = join(scratch, 'manager');
  mkdirSync(dir, { recursive: true });
  const started = await run('bash', [USER_MANAGER, 'start', dir], process.env, 60_000);
  const stop = async (): Promise<void> => {
    const r = await run('bash', [USER_MANAGER, 'stop', dir], process.env, 60_000);
    if (r.code !== 0) process.stderr.write(`demo: stopping the sandbox manager failed: ${r.stderr.trim()}\n`);
  };
  if (started.code !== 0) {
    await stop();
    throw new Error(`could not start a sandboxed systemd user manager: ${started.stderr.trim() || `exit ${started.code}`}`);
  }
  const vars = await run('bash', [USER_MANAGER, 'vars', dir]);
  const env: Record<string, string> = {};
  for (const line of vars.stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const sandboxVersion = (await managerVersion({ ...process.env, ...env })) ?? '?';
  let pid = '?';
  try {
    pid = readFileSync(join(dir, 'manager.pid'), 'utf8').trim();
  } catch {
    /* the description just says less */
  }
  return {
    kind: 'sandbox',
    env,
    unitDir: join(env.XDG_RUNTIME_DIR, 'systemd/user'),
    description: `a sandboxed systemd user manager of its own, PID ${pid} (systemd ${sandboxVersion}; no user session here)`,
    stop,
  };
}

function rmdirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* not empty, or gone */
  }
}

async function activeLeftovers(unitDir: string): Promise<string[]> {
  const found = leftoverUnitFiles(unitDir);
  const active: string[] = [];
  for (const unit of found) {
    const r = await run('systemctl', ['--user', 'is-active', '--', unit], process.env, 10_000);
    if (r.stdout.trim() === 'active' || r.stdout.trim() === 'activating') active.push(unit);
  }
  return active;
}

/** Stops and deletes unit files with the demo's prefix (a partial bring-up, or a crashed earlier run). */
export async function removeUnitFiles(manager: DemoManager, units: string[]): Promise<void> {
  if (units.length === 0) return;
  const env = { ...process.env, ...manager.env };
  await run('systemctl', ['--user', 'stop', '--', ...units], env, 60_000);
  await run('systemctl', ['--user', 'reset-failed', '--', ...units], env, 10_000);
  for (const u of units) rmSync(join(manager.unitDir, u), { force: true });
  await run('systemctl', ['--user', 'daemon-reload'], env, 30_000);
}
