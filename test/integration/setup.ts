// Mocha root hooks for the integration run: one systemd user manager for every test file
// (support/testManager.ts): the session `systemctl --user` reaches, else (root) a sandboxed one.
// Started by mochaGlobalSetup, cleaned up by mochaGlobalTeardown, and, as a backstop, on exit and on
// SIGINT/SIGTERM/SIGHUP, so an aborted run leaves no unit, process or file behind. The teardown
// then checks that nothing is left and fails the run if something is.
// GPUMOD_KEEP_SANDBOX=1 keeps the scratch directory (manager.log, journald.log, unit files) for debugging.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxVars, startSandbox, stopSandboxSync } from './support/sandbox';
import { freePortBase } from '../../demo/ports';
import { KIND_VAR, PORT_SPAN, PORT_VAR, removeRunUnits, RUN_VAR, runLeftovers, SCRATCH_VAR, sessionVars, unitDir, type ManagerKind } from './support/testManager';

interface Run {
  kind: ManagerKind;
  id: string;
  scratch: string;
  /** The session's runtime unit directory, when this run created it (removed again if empty). */
  createdUnitDir?: string;
}

let running: Run | undefined;
const keep = process.env.GPUMOD_KEEP_SANDBOX === '1';

/** The version of the manager `systemctl --user` reaches from this environment, if any. */
function sessionVersion(): string | undefined {
  try {
    const v = execFileSync('systemctl', ['--user', 'show', '-p', 'Version', '--value'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
    return v === '' ? undefined : v;
  } catch {
    return undefined;
  }
}

function cleanUp(run: Run): void {
  if (run.kind === 'session') {
    removeRunUnits(sessionVars(run.scratch), run.id);
    if (run.createdUnitDir) {
      try {
        rmdirSync(run.createdUnitDir);
      } catch {
        /* not empty: something else put files there meanwhile */
      }
    }
  } else {
    stopSandboxSync(run.scratch);
  }
  if (!keep) rmSync(run.scratch, { recursive: true, force: true });
}

function stopNow(): void {
  const run = running;
  running = undefined;
  if (run === undefined) return;
  try {
    cleanUp(run);
  } catch (e) {
    process.stderr.write(`gpumod integration: cleaning up ${run.scratch} failed: ${String(e)}\n`);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  stopNow();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

/** A free port range, found synchronously by running this file as a child (see the end of the file). */
function freePortRangeSync(): number {
  return Number(execFileSync(process.execPath, [__filename, '--free-port-base'], { encoding: 'utf8', timeout: 30_000 }));
}

// Chosen when mocha requires this file, before it loads the test files: their unit names and ports
// (module constants) come from the run's id and port range.
function chooseRun(): Run {
  const version = process.env.GPUMOD_TEST_FORCE_SANDBOX === '1' ? undefined : sessionVersion();
  if (version === undefined && process.getuid?.() !== 0) {
    process.stderr.write(
      'gpumod integration: needs a systemd user manager: `systemctl --user` reaches none from here (log in to a session, or `loginctl enable-linger $USER`), and without one only root can start a sandboxed manager\n',
    );
    process.exit(1);
  }
  const id = randomBytes(4).toString('hex');
  const kind: ManagerKind = version !== undefined ? 'session' : 'sandbox';
  const scratch = mkdtempSync(join(tmpdir(), `gpumod-test-${id}-`));
  process.env[RUN_VAR] = id;
  process.env[KIND_VAR] = kind;
  process.env[SCRATCH_VAR] = scratch;
  process.env[PORT_VAR] = String(freePortRangeSync());
  process.stderr.write(`gpumod integration: ${kind === 'session' ? `the session's systemd user manager (systemd ${version})` : 'a sandboxed systemd user manager'}; units gpumod-test-${id}-*; scratch ${scratch}\n`);
  running = { kind, id, scratch };
  process.on('exit', stopNow);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  return running;
}

const findingPorts = require.main === module && process.argv.includes('--free-port-base');
if (findingPorts) void freePortBase(PORT_SPAN).then((base) => process.stdout.write(String(base)));
const chosen = findingPorts ? undefined : chooseRun();

export async function mochaGlobalSetup(): Promise<void> {
  if (chosen === undefined) return;
  try {
    if (chosen.kind === 'sandbox') await startSandbox(chosen.scratch);
    const dir = unitDir();
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      if (chosen.kind === 'session') chosen.createdUnitDir = dir;
    }
  } catch (e) {
    stopNow();
    throw e;
  }
}

export async function mochaGlobalTeardown(): Promise<void> {
  const run = running;
  running = undefined;
  if (run === undefined) return;
  const vars = run.kind === 'session' ? sessionVars(run.scratch) : sandboxVars(run.scratch);
  cleanUp(run);
  if (keep) return;
  const left = runLeftovers(vars, run.id, run.scratch);
  if (left.length > 0) {
    process.stderr.write(`gpumod integration: the run left things behind:\n${left.map((l) => `  ${l}`).join('\n')}\n`);
    // Mocha sets the exit code from the failures after this hook: fail the run at exit instead.
    process.on('exit', () => (process.exitCode = 1));
  }
}
