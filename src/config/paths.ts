import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Record<string, string | undefined>;

/** `$XDG_CONFIG_HOME/gpumod/gpumod.yaml`, or `~/.config/gpumod/gpumod.yaml`. */
export function defaultConfigPath(env: Env = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'gpumod', 'gpumod.yaml');
}

/** Where switch state, history and the lock live: `$XDG_STATE_HOME/gpumod`. */
export function stateDir(env: Env = process.env): string {
  const base = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'gpumod');
}

/** The explicit choice wins (`--config` or the VS Code setting), then `GPUMOD_CONFIG`, then the default. */
export function resolveConfigPath(explicit: string | undefined, env: Env = process.env): string {
  if (explicit && explicit.trim()) return expandHome(explicit.trim(), env);
  if (env.GPUMOD_CONFIG) return expandHome(env.GPUMOD_CONFIG, env);
  return defaultConfigPath(env);
}

function expandHome(p: string, env: Env): string {
  return p === '~' || p.startsWith('~/') ? join(env.HOME || homedir(), p.slice(1)) : p;
}
