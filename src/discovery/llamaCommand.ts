import type { ServerCommand } from './commandLine';
import { Flags } from './flags';
import { listenOn, visibleDevices } from './listen';
import type { LlamaRouter, LlamaSingle } from './servers';

const ALIASES: Record<string, string> = {
  '-m': 'model',
  '-hf': 'hf-repo',
  '-hfr': 'hf-repo',
  '-mu': 'model-url',
  '-dr': 'docker-repo',
  '-a': 'alias',
};
const BOOLEANS = ['models-autoload', 'mlock', 'mmap', 'cont-batching', 'metrics', 'slots', 'props', 'embedding', 'embeddings', 'reranking', 'jinja', 'webui', 'warmup', 'context-shift', 'offline', 'verbose', 'kv-unified', 'swa-full'];

/** llama-server reads each option from `LLAMA_ARG_<NAME>` too; the command line wins. */
function fromEnv(flags: Flags, env: Readonly<Record<string, string>>, name: string): string | undefined {
  return flags.get(name) ?? env[`LLAMA_ARG_${name.toUpperCase().replace(/-/g, '_')}`];
}

export type LlamaReading = { ok: true; server: LlamaRouter | LlamaSingle; notes: string[] } | { ok: false; reason: string };

/**
 * `llama-server`: router mode when no model is given (`-m`, `-hf`, `-mu`, `--docker-repo`), serving
 * the models of `--models-dir` / `--models-preset`; else one model. Port 8080, loopback by default.
 */
export function readLlamaServer(cmd: ServerCommand): LlamaReading | undefined {
  if (cmd.program !== 'llama-server') return undefined;
  const flags = new Flags(cmd.args, { aliases: ALIASES, booleans: BOOLEANS });
  const env = cmd.env;
  const notes: string[] = [];
  const at = listenOn(fromEnv(flags, env, 'host'), fromEnv(flags, env, 'port'), { bind: '127.0.0.1', port: 8080 });
  if (!at.ok) return at;
  if (at.listen.portDefault) notes.push('no --port: llama-server\'s default 8080 assumed (newer builds announce a move to 9931; pass --port)');
  const idle = fromEnv(flags, env, 'sleep-idle-seconds');
  const sleepIdleSeconds = idle !== undefined && /^\d+$/.test(idle) && Number(idle) > 0 ? Number(idle) : undefined;
  const devices = visibleDevices(env);
  const model = fromEnv(flags, env, 'model') ?? fromEnv(flags, env, 'hf-repo') ?? fromEnv(flags, env, 'model-url') ?? fromEnv(flags, env, 'docker-repo');
  if (model !== undefined) {
    const alias = fromEnv(flags, env, 'alias');
    const single: LlamaSingle = { kind: 'llama-single', listen: at.listen, model, ...(alias ? { alias } : {}), ...(sleepIdleSeconds ? { sleepIdleSeconds } : {}), ...(devices ? { visibleDevices: devices } : {}) };
    return { ok: true, server: single, notes };
  }
  const maxText = fromEnv(flags, env, 'models-max');
  const autoloadEnv = env.LLAMA_ARG_MODELS_AUTOLOAD;
  const autoload = flags.has('models-autoload') ? flags.bool('models-autoload') : autoloadEnv === undefined ? true : !/^(0|false|off|no)$/i.test(autoloadEnv);
  const dir = fromEnv(flags, env, 'models-dir');
  const preset = fromEnv(flags, env, 'models-preset');
  const router: LlamaRouter = {
    kind: 'llama-router',
    listen: at.listen,
    ...(dir ? { modelsDir: dir } : {}),
    ...(preset ? { modelsPreset: preset } : {}),
    modelsMax: maxText !== undefined && /^\d+$/.test(maxText) ? Number(maxText) : 4,
    autoload,
    ...(sleepIdleSeconds ? { sleepIdleSeconds } : {}),
    ...(devices ? { visibleDevices: devices } : {}),
  };
  return { ok: true, server: router, notes };
}
