// The one runner for every child process: argument arrays (never a shell), a deadline, cancellation,
// and one log line per call in the form `> systemctl --user start x.service [71ms]`.
import { basename } from 'node:path';
import { execa } from 'execa';
import { GpumodError } from '../errors';
import type { Logger } from '../engine/logger';

export type Env = Record<string, string | undefined>;

export interface RunOptions {
  /** Deadline for the whole run; the child is killed (TERM, then KILL 2 s later) when it passes. */
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

export async function runProcess(
  file: string,
  args: readonly string[],
  opts: RunOptions,
  log: Logger,
): Promise<ProcessResult> {
  const command = formatCommand(file, args);
  if (opts.signal?.aborted) throw new GpumodError('CANCELLED', `cancelled before running: ${command}`);
  const t0 = performance.now();
  const r = await execa(file, [...args], {
    env: opts.env,
    extendEnv: true,
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    forceKillAfterDelay: 2000,
    reject: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    encoding: 'utf8',
  });
  const ms = Math.round(performance.now() - t0);
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';

  if (r.isCanceled) {
    log.info(`> ${command} [${ms}ms] cancelled`);
    throw new GpumodError('CANCELLED', `cancelled: ${command}`, { cause: r.cause ?? r });
  }
  if (r.timedOut) {
    log.info(`> ${command} [${ms}ms] timed out`);
    throw new GpumodError('PROCESS_TIMEOUT', `${command} did not finish within ${opts.timeoutMs} ms (killed)`, {
      cause: r.cause ?? r,
    });
  }
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
