// Mocha root hooks for the integration run: one real systemd user manager for every test file.
// Started by mochaGlobalSetup, stopped by mochaGlobalTeardown, and, as a backstop, on exit and on
// SIGINT/SIGTERM/SIGHUP, so an aborted run leaves no manager, journald or cgroup behind.
// GPUMOD_KEEP_SANDBOX=1 keeps the sandbox directory (manager.log, journald.log, unit files) for debugging.
import { rmSync } from 'node:fs';
import { SANDBOX_VAR, startSandbox, stopSandbox, stopSandboxSync } from './support/sandbox';

let running: string | undefined;

function stopNow(): void {
  const dir = running;
  running = undefined;
  if (dir === undefined) return;
  try {
    stopSandboxSync(dir);
    if (process.env.GPUMOD_KEEP_SANDBOX !== '1') rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    process.stderr.write(`gpumod integration: stopping the sandbox in ${dir} failed: ${String(e)}\n`);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  stopNow();
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

export async function mochaGlobalSetup(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the integration tests need root: they start a systemd user manager in its own cgroup');
  process.on('exit', stopNow);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  try {
    running = await startSandbox();
  } catch (e) {
    // startSandbox published the directory before starting: clean up whatever did start.
    running = process.env[SANDBOX_VAR];
    stopNow();
    throw e;
  }
}

export async function mochaGlobalTeardown(): Promise<void> {
  const dir = running;
  running = undefined;
  if (dir !== undefined) await stopSandbox(dir, process.env.GPUMOD_KEEP_SANDBOX === '1');
}
