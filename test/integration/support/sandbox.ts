// The real systemd user manager the integration tests run against (scripts/userManager.sh).
//
// How tests get the sandbox's environment: test/integration/setup.ts starts ONE manager for the
// whole mocha run and sets exactly one variable, GPUMOD_TEST_SANDBOX=<dir>, in process.env (each
// test file is its own bundle, so module state cannot carry it). process.env is otherwise left
// alone: tests pass `sandboxEnv()` explicitly, as the `env` option of the adapters
// (createSystemd(log, { env: sandboxEnv() })) and as the environment of child processes they spawn
// (merged over process.env), so nothing in the test process talks to a manager by accident.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { silentLogger } from '../../../src/system/logger';
import { createSystemd, validateUnitName, type SystemdAdapter } from '../../../src/system/systemd';
import { unitFileText, type UnitSpec } from '../../../src/system/unitFile';


export const SANDBOX_VAR = 'GPUMOD_TEST_SANDBOX';
export const USER_MANAGER_SCRIPT = resolve(process.cwd(), 'scripts/userManager.sh');

function script(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile('bash', [USER_MANAGER_SCRIPT, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) rej(new Error(`userManager.sh ${args.join(' ')} failed: ${err.message}\n${stderr}`, { cause: err }));
      else res(stdout);
    });
  });
}

/** The sandbox directory of this run; throws when the run was started without the setup file. */
export function sandboxDir(): string {
  const dir = process.env[SANDBOX_VAR];
  if (!dir) throw new Error(`${SANDBOX_VAR} is not set: run mocha with --require out/test/integration/setup.js`);
  return dir;
}

const envCache = new Map<string, Record<string, string>>();

/** XDG_RUNTIME_DIR, HOME, XDG_CONFIG_HOME, … of the sandbox, as the script defines them. */
export function sandboxEnv(dir: string = sandboxDir()): Record<string, string> {
  let env = envCache.get(dir);
  if (!env) {
    env = {};
    const text = execFileSync('bash', [USER_MANAGER_SCRIPT, 'vars', dir], { encoding: 'utf8' });
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
    }
    envCache.set(dir, env);
  }
  return { ...env };
}

/** Starts a manager in a fresh directory under os.tmpdir() (or `dir`) and publishes it in GPUMOD_TEST_SANDBOX. */
export async function startSandbox(dir?: string): Promise<string> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'gpumod-sandbox-'));
  process.env[SANDBOX_VAR] = d;
  await script(['start', d]);
  return d;
}

/** Stops the manager and its journald (by PID), removes their cgroups, and the directory unless `keep`. */
export async function stopSandbox(dir: string = sandboxDir(), keep = false): Promise<void> {
  await script(['stop', dir]);
  if (!keep) rmSync(dir, { recursive: true, force: true });
  if (process.env[SANDBOX_VAR] === dir) delete process.env[SANDBOX_VAR];
}

/** Synchronous stop, for exit and signal handlers. */
export function stopSandboxSync(dir: string): void {
  execFileSync('bash', [USER_MANAGER_SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: 30_000 });
}

/** An adapter bound to the sandbox manager. */
export function sandboxSystemd(): SystemdAdapter {
  return createSystemd(silentLogger, { env: sandboxEnv() });
}

export function unitPath(name: string): string {
  return join(sandboxEnv().XDG_CONFIG_HOME, 'systemd/user', validateUnitName(name));
}

/** Writes the unit into $XDG_CONFIG_HOME/systemd/user/ of the sandbox and reloads the manager. */
export async function installUnit(name: string, spec: UnitSpec): Promise<string> {
  const path = unitPath(name);
  writeFileSync(path, unitFileText(name, spec));
  await sandboxSystemd().daemonReload({ timeoutMs: 15_000 });
  return path;
}

/** Stops the unit (if running), forgets a failed state, deletes its file and reloads. */
export async function removeUnit(name: string): Promise<void> {
  const sd = sandboxSystemd();
  await sd.stop(name, { timeoutMs: 15_000 }).catch(() => undefined);
  await sd.resetFailed(name, { timeoutMs: 15_000 }).catch(() => undefined);
  try {
    unlinkSync(unitPath(name));
  } catch {
    /* already gone */
  }
  await sd.daemonReload({ timeoutMs: 15_000 });
}
