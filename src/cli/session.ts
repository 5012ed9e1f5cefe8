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
