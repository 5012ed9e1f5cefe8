// The one runner for every child process: argument arrays (never a shell), a deadline, cancellation,
// and one log line per call in the form `> systemctl --user start x.service [71ms]`.
import { basename } from 'node:path';
import { execa } from 'execa';
import { GpumodError } from '../errors';
import type { Logger } from '../engine/logger';

export type Env = Record<string, string | undefined>;

export interface RunOptions {
  /** Deadline for the whole run; the child's process group is killed (TERM, then KILL 2 s later) when it passes. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Merged over process.env (tests pass the sandbox's variables here instead of mutating process.env). */
  env?: Env;
  /** Default true: a non-zero exit throws PROCESS_FAILED. false: the exit code is returned. */
  reject?: boolean;
}

export interface ProcessResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  ms: number;
}

/** The commands gpumod runs, and the variables that point them elsewhere (the fakes, or a wrapper). */
export type Binary = 'systemctl' | 'journalctl' | 'systemd-run' | 'nvidia-smi';

const OVERRIDES: Record<Binary, string> = {
  systemctl: 'GPUMOD_SYSTEMCTL',
  journalctl: 'GPUMOD_JOURNALCTL',
  'systemd-run': 'GPUMOD_SYSTEMD_RUN',
  'nvidia-smi': 'GPUMOD_NVIDIA_SMI',
};

/** The file to run for `name`: the override variable when set and non-empty, else the bare name (looked up on PATH). */
export function resolveBinary(name: Binary, env: Env = {}): string {
  const key = OVERRIDES[name];
  const value = key in env ? env[key] : process.env[key];
  return value && value.trim() !== '' ? value : name;
}

/** Quotes an argument only when needed, so log lines read like the command a user would type. */
export function formatCommand(file: string, args: readonly string[]): string {
  const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [basename(file), ...args].map(quote).join(' ');
}

function firstLine(text: string): string {
  const line = text.trim().split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Between SIGTERM to a child's process group and SIGKILL. */
export const KILL_GRACE_MS = 2000;

/** Process groups of children still running: killed if gpumod itself exits or is interrupted meanwhile. */
const liveGroups = new Set<number>();
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

/** SIGTERM now, SIGKILL to whatever is left after the grace period; tracked till then, for the exit hook. */
function endGroup(pgid: number): void {
  killGroup(pgid, 'SIGTERM');
  setTimeout(() => {
    killGroup(pgid, 'SIGKILL');
    untrack(pgid);
  }, KILL_GRACE_MS).unref();
}

function killLiveGroups(): void {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
}

/**
 * Detached children no longer get the terminal's Ctrl-C with gpumod. When nobody else handles the
 * signal (the default would kill gpumod without an 'exit' event), kill the groups, then die of it.
 */
function onExitSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // someone else handles it (the CLI's cancel); 'exit' still covers us
  killLiveGroups();
  unwatchExit();
  process.kill(process.pid, signal);
}

function watchExit(): void {
  process.on('exit', killLiveGroups);
  for (const s of EXIT_SIGNALS) process.on(s, onExitSignal);
}

function unwatchExit(): void {
  process.off('exit', killLiveGroups);
  for (const s of EXIT_SIGNALS) process.off(s, onExitSignal);
}

function track(pgid: number): void {
  if (liveGroups.size === 0) watchExit();
  liveGroups.add(pgid);
}

function untrack(pgid: number): void {
  if (liveGroups.delete(pgid) && liveGroups.size === 0) unwatchExit();
}

/** execa's options for every child: never a shell, its own process group (ended as a whole), no stdin. */
function groupOptions(env: Env | undefined) {
  return { env, extendEnv: true, detached: true, reject: false, stdin: 'ignore', encoding: 'utf8' } as const;
}

/** Tracks a started child's process group, for the exit hook; returns its id. */
function trackChild(pid: number | undefined): number | undefined {
  if (pid !== undefined) track(pid);
  return pid;
}

export async function runProcess(
  file: string,
  args: readonly string[],
  opts: RunOptions,
  log: Logger,
): Promise<ProcessResult> {
  const command = formatCommand(file, args);
  if (opts.signal?.aborted) throw new GpumodError('CANCELLED', `cancelled before running: ${command}`);
  const t0 = performance.now();
  // Its own process group, so a deadline or a cancel ends everything it started: a wrapper's
  // grandchild holding stdout open would otherwise keep the call (and a switch's lock) waiting.
  const child = execa(file, [...args], { ...groupOptions(opts.env), stripFinalNewline: false });
  const pgid = trackChild(child.pid);
  // Settles with the child, or at the deadline or cancel: from then on nothing waits for its pipes.
  let ended: 'timed out' | 'cancelled' | undefined;
  let stop = (): void => undefined;
  const stopped = new Promise<undefined>((resolve) => (stop = () => resolve(undefined)));
  const end = (why: 'timed out' | 'cancelled'): void => {
    if (ended) return;
    ended = why;
    if (pgid !== undefined) endGroup(pgid);
    stop();
  };
  const deadline = setTimeout(() => end('timed out'), opts.timeoutMs);
  const onAbort = (): void => end('cancelled');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let r: Awaited<typeof child> | undefined;
  try {
    r = await Promise.race([child, stopped]);
  } finally {
    clearTimeout(deadline);
    opts.signal?.removeEventListener('abort', onAbort);
    if (pgid !== undefined && !ended) untrack(pgid);
  }
  const ms = Math.round(performance.now() - t0);

  if (ended || r === undefined) {
    child.stdout?.destroy();
    child.stderr?.destroy();
    const cancelled = ended === 'cancelled';
    log.info(`> ${command} [${ms}ms] ${cancelled ? 'cancelled' : 'timed out'}`);
    throw cancelled
      ? new GpumodError('CANCELLED', `cancelled: ${command}`)
      : new GpumodError('PROCESS_TIMEOUT', `${command} did not finish within ${opts.timeoutMs} ms (killed)`);
  }
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if (r.exitCode === undefined) {
    // Never ran (ENOENT, EACCES) or died by a signal nobody sent on purpose.
    const cause = r.cause as NodeJS.ErrnoException | undefined;
    const why = cause?.code === 'ENOENT' ? 'not found' : r.signal ? `killed by ${r.signal}` : (cause?.message ?? r.shortMessage ?? 'failed');
    log.info(`> ${command} [${ms}ms] ${why}`);
    throw new GpumodError('PROCESS_FAILED', `${command}: ${why}`, { cause: r.cause ?? r });
  }
  log.info(`> ${command} [${ms}ms]${r.exitCode !== 0 ? ` exit ${r.exitCode}` : ''}`);
  if (r.exitCode !== 0 && opts.reject !== false) {
    const detail = firstLine(stderr) || firstLine(stdout) || '(no output)';
    throw new GpumodError('PROCESS_FAILED', `${command} exited ${r.exitCode}: ${detail}`, { cause: r });
  }
  return { stdout, stderr, exitCode: r.exitCode, ms };
}

/** Whether `e` is the error runProcess throws when the binary does not exist. */
export function isNotFound(e: unknown): boolean {
  return e instanceof GpumodError && e.code === 'PROCESS_FAILED' && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

export interface StreamOptions {
  env?: Env;
  /** Each complete line of stdout, without its newline, as it arrives. */
  onLine(line: string, at: number): void;
  /** Once, when the child has ended (by itself or by `stop`), with the first line of its stderr if any. */
  onExit(why: string): void;
}

export interface StreamingChild {
  /** Ends the child's process group (TERM, then KILL after the grace period). Idempotent. */
  stop(): void;
}

/**
 * A long-lived child whose stdout is read line by line (nvidia-smi's loop mode): its own process group,
 * killed with gpumod like every other child. `at` is performance.now() when the line's chunk arrived.
 */
export function spawnStream(file: string, args: readonly string[], opts: StreamOptions, log: Logger): StreamingChild {
  const command = formatCommand(file, args);
  const child = execa(file, [...args], { ...groupOptions(opts.env), buffer: false });
  const pgid = trackChild(child.pid);
  log.info(`> ${command} (watching)`);
  let partial = '';
  let stderr = '';
  let stopped = false;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const at = performance.now();
    const text = partial + chunk;
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    // A runaway line (no newline) must not grow without bound.
    if (partial.length > 65536) partial = '';
    for (const l of lines) opts.onLine(l.replace(/\r$/, ''), at);
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  void child.then((r) => {
    if (pgid !== undefined) untrack(pgid);
    const cause = r.cause as NodeJS.ErrnoException | undefined;
    const why = stopped
      ? 'stopped'
      : cause?.code === 'ENOENT'
        ? `${file} not found`
        : `${command} ended${r.exitCode !== undefined ? ` with exit ${r.exitCode}` : r.signal ? ` by ${r.signal}` : ''}${firstLine(stderr) || firstLine(partial) ? `: ${firstLine(stderr) || firstLine(partial)}` : ''}`;
    if (!stopped) log.info(`> ${command}: ${why}`);
    opts.onExit(why);
  });
  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      if (pgid !== undefined) endGroup(pgid);
    },
  };
}
