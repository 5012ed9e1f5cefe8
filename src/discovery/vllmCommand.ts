import type { ServerCommand } from './commandLine';
import { Flags } from './flags';
import { listenOn, visibleDevices } from './listen';
import type { VllmServer } from './servers';

/** vLLM options that take no value: a model named after one of them is not swallowed as its value. */
const BOOLEANS = [
  'enable-sleep-mode', 'trust-remote-code', 'enforce-eager', 'enable-prefix-caching', 'enable-chunked-prefill',
  'disable-log-requests', 'enable-log-requests', 'disable-log-stats', 'enable-auto-tool-choice', 'enable-lora',
  'disable-custom-all-reduce', 'disable-frontend-multiprocessing', 'disable-fastapi-docs', 'enable-server-load-tracking',
  'return-tokens-as-token-ids', 'disable-uvicorn-access-log', 'skip-tokenizer-init', 'enable-expert-parallel',
  'async-scheduling', 'headless', 'enable-prompt-tokens-details', 'enable-force-include-usage', 'enable-log-outputs',
  'disable-sliding-window', 'disable-cascade-attn', 'enable-reasoning', 'enable-tokenizer-info-endpoint',
];

/** VLLM_SERVER_DEV_MODE as vLLM reads it: `bool(int(value))`. */
export function devModeOn(value: string | undefined): boolean {
  return value !== undefined && /^\s*\d+\s*$/.test(value) && Number(value) !== 0;
}

/** `expandable_segments:True` in PyTorch's allocator settings (either variable name). */
export function expandableSegments(env: Readonly<Record<string, string>>): boolean {
  return [env.PYTORCH_CUDA_ALLOC_CONF, env.PYTORCH_ALLOC_CONF].some((v) => v !== undefined && /expandable_segments\s*:\s*true/i.test(v));
}

export type VllmReading = { ok: true; server: VllmServer; notes: string[] } | { ok: false; reason: string };

/**
 * `vllm serve [MODEL] …` or `python -m vllm.entrypoints.openai.api_server --model MODEL …`. The
 * server binds every interface unless told otherwise (--host), on port 8000.
 */
export function readVllm(cmd: ServerCommand): VllmReading | undefined {
  let args: string[];
  if (cmd.program === 'vllm') {
    if (cmd.args[0] !== 'serve') return { ok: false, reason: `runs "vllm ${cmd.args[0] ?? ''}", not "vllm serve"` };
    args = cmd.args.slice(1);
  } else if (cmd.module === 'vllm.entrypoints.openai.api_server') {
    args = cmd.args;
  } else if (cmd.module?.startsWith('vllm.')) {
    return { ok: false, reason: `runs the module ${cmd.module}, not vLLM's OpenAI server (vllm serve)` };
  } else return undefined;
  const notes: string[] = [];
  // `vllm serve MODEL`: the model comes first; else --model, else the first word no option took.
  const firstIsModel = cmd.program === 'vllm' && args[0] !== undefined && !args[0].startsWith('-');
  const flags = new Flags(firstIsModel ? args.slice(1) : args, { booleans: BOOLEANS, underscores: true });
  const model = firstIsModel ? args[0] : (flags.get('model') ?? flags.positional[0]);
  if (flags.has('uds')) return { ok: false, reason: `it listens on a Unix socket (--uds ${flags.get('uds')}): gpumod talks TCP` };
  if (flags.bool('headless')) return { ok: false, reason: 'runs vLLM --headless (an engine without an API server)' };
  const at = listenOn(flags.get('host'), flags.get('port'), { bind: '0.0.0.0', port: 8000 });
  if (!at.ok) return at;
  if (flags.has('config')) notes.push(`options in --config ${flags.get('config')} are not read by gpumod: check the port and model`);
  const util = flags.get('gpu-memory-utilization');
  const tp = flags.get('tensor-parallel-size') ?? flags.get('tp');
  const server: VllmServer = {
    kind: 'vllm',
    ...(model !== undefined ? { model } : {}),
    servedNames: flags.all('served-model-name').flatMap((v) => v.split(/\s+/)).filter((v) => v !== ''),
    listen: at.listen,
    sleepFlag: flags.bool('enable-sleep-mode'),
    devMode: devModeOn(cmd.env.VLLM_SERVER_DEV_MODE),
    expandableSegments: expandableSegments(cmd.env),
  };
  if (util !== undefined && Number.isFinite(Number(util)) && Number(util) > 0 && Number(util) <= 1) server.gpuMemoryUtilization = Number(util);
  if (tp !== undefined && /^\d+$/.test(tp) && Number(tp) > 1) server.tensorParallel = Number(tp);
  const devices = visibleDevices(cmd.env);
  if (devices) server.visibleDevices = devices;
  return { ok: true, server, notes };
}
