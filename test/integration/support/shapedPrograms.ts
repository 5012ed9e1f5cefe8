// Programs named and invoked like the real servers (`vllm serve MODEL …`, `llama-server …`, `uvicorn
// APP …`) that run the fakes the way those flags would run the real ones: a unit using them has the
// ExecStart of a real workstation's unit, and a server behaving like the real one (dev endpoints off
// without VLLM_SERVER_DEV_MODE=1, no sleep without --enable-sleep-mode, VLLM bound to every interface
// without --host, memory held by child processes in the unit's cgroup). Fake settings come from the
// unit's environment: FAKE_GPU_DIR (required), FAKE_VRAM_MB.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO } from '../../../demo/workstation';

function programs(fakes: string): { vllm: string; llama: string; uvicorn: string } {
  /** `vllm serve MODEL [vLLM flags]` → the fake vLLM with what those flags and the environment mean. */
  const vllm = `#!${process.execPath}
'use strict';
const args = process.argv.slice(2);
if (args[0] !== 'serve' || !args[1]) { process.stderr.write('usage: vllm serve MODEL [options]\\n'); process.exit(2); }
const opt = (name) => { const i = args.indexOf(name); return i > 0 ? args[i + 1] : undefined; };
const fake = [
  '--model', opt('--served-model-name') || args[1],
  '--port', opt('--port') || '8000',
  '--host', opt('--host') || '0.0.0.0',
  '--sleep-mode-enabled', args.includes('--enable-sleep-mode') ? 'on' : 'off',
  '--dev-mode', process.env.VLLM_SERVER_DEV_MODE === '1' ? 'on' : 'off',
  '--startup-ms', '0', '--gpu-dir', process.env.FAKE_GPU_DIR,
  '--vram-mb', process.env.FAKE_VRAM_MB || '1000', '--vram-asleep-mb', '300',
];
process.argv = [process.argv[0], ${JSON.stringify(join(fakes, 'vllm.js'))}, ...fake];
require(process.argv[1]);
`;

  /** `llama-server [router flags]` → the fake router (it takes the same flags). */
  const llama = `#!${process.execPath}
'use strict';
const fake = [...process.argv.slice(2), '--startup-ms', '0', '--load-ms', '50', '--gpu-dir', process.env.FAKE_GPU_DIR, '--model-vram-mb', '4000', '--router-vram-mb', '250'];
process.argv = [process.argv[0], ${JSON.stringify(join(fakes, 'llamaRouter.js'))}, ...fake];
require(process.argv[1]);
`;

  /** `uvicorn APP --port N` → the fake FastAPI hook server. */
  const uvicorn = `#!${process.execPath}
'use strict';
const args = process.argv.slice(2);
const i = args.indexOf('--port');
const fake = ['--port', args[i + 1], '--startup-ms', '0', '--load-ms', '50', '--gpu-dir', process.env.FAKE_GPU_DIR, '--vram-mb', '2500', '--vram-asleep-mb', '500'];
process.argv = [process.argv[0], ${JSON.stringify(join(fakes, 'hookServer.js'))}, ...fake];
require(process.argv[1]);
`;
  return { vllm, llama, uvicorn };
}

/** Writes them under `dir` (at paths like a venv's and a llama.cpp build's) and returns their paths. */
export function writeShapedPrograms(dir: string, fakes = join(REPO, 'out/test/fakes')): { vllm: string; llama: string; uvicorn: string } {
  const text = programs(fakes);
  const put = (rel: string, body: string): string => {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
    chmodSync(path, 0o755);
    return path;
  };
  return {
    vllm: put('venv/bin/vllm', text.vllm),
    llama: put('llama.cpp/build/bin/llama-server', text.llama),
    uvicorn: put('asr/.venv/bin/uvicorn', text.uvicorn),
  };
}
