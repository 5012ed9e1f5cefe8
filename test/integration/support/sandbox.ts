// A sandboxed systemd user manager of its own (scripts/userManager.sh, root only), for machines with
// no session manager: the integration tier's fallback (support/testManager.ts), the VS Code host
// fixture and the benchmark.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const USER_MANAGER_SCRIPT = resolve(process.cwd(), 'scripts/userManager.sh');

function script(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile('bash', [USER_MANAGER_SCRIPT, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) rej(new Error(`userManager.sh ${args.join(' ')} failed: ${err.message}\n${stderr}`, { cause: err }));
      else res(stdout);
    });
  });
}

const varsCache = new Map<string, Record<string, string>>();

/** XDG_RUNTIME_DIR, HOME, XDG_CONFIG_HOME, … of the sandbox in `dir`, as the script defines them. */
export function sandboxVars(dir: string): Record<string, string> {
  let vars = varsCache.get(dir);
  if (!vars) {
    vars = {};
    const text = execFileSync('bash', [USER_MANAGER_SCRIPT, 'vars', dir], { encoding: 'utf8' });
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
    }
    varsCache.set(dir, vars);
  }
  return { ...vars };
}

/** Starts a manager in a fresh directory under os.tmpdir() (or `dir`); returns the directory. */
export async function startSandbox(dir?: string): Promise<string> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'gpumod-sandbox-'));
  await script(['start', d]);
  return d;
}

/** Stops the manager and its journald (by PID), removes their cgroups, and the directory unless `keep`. */
export async function stopSandbox(dir: string, keep = false): Promise<void> {
  await script(['stop', dir]);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

/** Synchronous stop, for exit and signal handlers. */
export function stopSandboxSync(dir: string): void {
  execFileSync('bash', [USER_MANAGER_SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: 30_000 });
}
