import { unwrapExecStart, type ServerCommand } from './commandLine';
import { readHttpApp } from './httpAppCommand';
import { readLlamaServer } from './llamaCommand';
import type { Classification } from './servers';
import { readVllm } from './vllmCommand';

/** Servers people run that gpumod does not drive, and why, so the reason names them. */
const KNOWN_OTHERS: Record<string, string> = {
  ollama: 'Ollama loads and unloads models by itself; gpumod does not drive it',
  'sglang.launch_server': 'SGLang is not supported (gpumod drives vLLM, llama-server and HTTP apps)',
  'text-generation-launcher': 'Text Generation Inference is not supported',
  'llama_cpp.server': "llama-cpp-python's server is not supported (use llama.cpp's llama-server)",
  tritonserver: 'Triton is not supported',
  koboldcpp: 'KoboldCpp is not supported',
  'lmdeploy': 'LMDeploy is not supported',
};

/**
 * Reads a unit's ExecStart (argv lines as `systemctl show` prints them) with the unit's environment:
 * which server it runs and how it is set up, or why that cannot be told.
 */
export function classifyCommand(execStart: string | undefined, env: Readonly<Record<string, string>>): Classification {
  if (execStart === undefined || execStart.trim() === '') return { ok: false, reason: 'no ExecStart= command' };
  const unwrapped = unwrapExecStart(execStart, env);
  if (!unwrapped.ok) return unwrapped;
  const cmd = unwrapped.value;
  const reading = readVllm(cmd) ?? readLlamaServer(cmd) ?? readHttpApp(cmd);
  if (reading === undefined) return { ok: false, reason: otherReason(cmd) };
  if (!reading.ok) return reading;
  return { ok: true, server: reading.server, via: cmd.via, notes: [...cmd.notes, ...reading.notes], command: [cmd.path, ...cmd.args].join(' ') };
}

function otherReason(cmd: ServerCommand): string {
  const known = KNOWN_OTHERS[cmd.module ?? cmd.program];
  if (known) return known;
  const what = cmd.module ? `the Python module ${cmd.module}` : `"${cmd.program}"`;
  return `runs ${what}: not vLLM, llama-server, uvicorn, FastAPI or gunicorn`;
}
