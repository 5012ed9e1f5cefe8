import { setMaxListeners } from 'node:events';
import { formatProblems, loadConfig } from '../config/load';
import { resolveConfigPath } from '../config/paths';
import type { Config } from '../config/types';
import { createMachine, type Machine } from '../machine';
import { streamLogger } from '../system/logger';
import { flagString, type ParsedArgs } from './args';
import type { CliIo } from './io';

export class ConfigError extends Error {}

export interface Session {
  config: Config;
  machine: Machine;
}

/** Loads the config (a bad one is exit 2 with every problem) and builds the machine's ports. */
export async function openSession(args: ParsedArgs, io: CliIo): Promise<Session> {
  const file = resolveConfigPath(flagString(args, 'config'), io.env);
  const result = await loadConfig(file);
  if (!result.ok) throw new ConfigError(formatProblems(result.problems));
  const log = streamLogger(io.err, args.flags.has('verbose') ? 'info' : 'warn');
  return { config: result.config, machine: createMachine(result.config, log, io.env) };
}

/** Runs `body` with a session and always closes its connections, so the CLI exits promptly. */
export async function withSession<T>(args: ParsedArgs, io: CliIo, body: (s: Session) => Promise<T>): Promise<T> {
  const s = await openSession(args, io);
  try {
    return await body(s);
  } finally {
    await s.machine.close();
  }
}

/**
 * Resolves on SIGINT or SIGTERM (a systemd stop) for a process that serves until told to stop. The
 * listeners stay until `dispose`: a `once` listener is gone by the time the child-process guard
 * (system/process.ts) looks whether anyone else handles the signal, and it would then kill us mid-close.
 */
export function stopSignals(): { stopped: Promise<NodeJS.Signals>; dispose(): void } {
  let resolve: (s: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const on = (s: NodeJS.Signals): void => resolve(s);
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    stopped,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/** An AbortSignal fired by Ctrl-C: the engine cancels, rolls back and reports instead of dying mid-step. */
export function interruptSignal(io: CliIo): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  // One listener per step in flight: a switch of many services legitimately exceeds Node's default 10.
  setMaxListeners(256, ctl.signal);
  const onInt = (): void => {
    if (ctl.signal.aborted) process.exit(130);
    io.err('\ncancelling (Ctrl-C again to quit at once)...\n');
    ctl.abort();
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  return {
    signal: ctl.signal,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
    },
  };
}
