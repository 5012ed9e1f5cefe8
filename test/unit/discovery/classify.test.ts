import * as assert from 'node:assert/strict';
import { classifyCommand } from '../../../src/discovery/classify';
import type { Classification, HttpApp, LlamaRouter, LlamaSingle, Server, VllmServer } from '../../../src/discovery/servers';

const DEV = { VLLM_SERVER_DEV_MODE: '1' };

function server(c: Classification): Server {
  if (!c.ok) assert.fail(`not classified: ${c.reason}`);
  return c.server;
}
const vllm = (c: Classification): VllmServer => {
  const s = server(c);
  assert.equal(s.kind, 'vllm');
  return s as VllmServer;
};
const reason = (c: Classification): string => {
  if (c.ok) assert.fail(`classified as ${c.server.kind}, expected a refusal`);
  return c.reason;
};

describe('discovery: classifying ExecStart command lines', () => {
  describe('vLLM', () => {
    it('vllm serve MODEL with a port, sleep mode and dev mode: sleep-capable, called on loopback', () => {
      const s = vllm(classifyCommand('/usr/local/bin/vllm serve Qwen/Qwen3-8B --port 7071 --enable-sleep-mode --gpu-memory-utilization 0.35', DEV));
      assert.equal(s.model, 'Qwen/Qwen3-8B');
      assert.deepEqual(s.listen, { port: 7071, portDefault: false, bind: '0.0.0.0', host: '127.0.0.1', exposed: true });
      assert.equal(s.sleepFlag, true);
      assert.equal(s.devMode, true);
      assert.equal(s.gpuMemoryUtilization, 0.35);
    });

    it('a venv binary with --port=N and --host=127.0.0.1; no dev mode in the environment', () => {
      const s = vllm(classifyCommand('/home/u/.venv/bin/vllm serve /models/chat --host=127.0.0.1 --port=8001 --enable-sleep-mode', {}));
      assert.equal(s.model, '/models/chat');
      assert.equal(s.listen.port, 8001);
      assert.equal(s.listen.exposed, false);
      assert.equal(s.devMode, false);
      assert.equal(s.sleepFlag, true);
    });

    it('python -m vllm.entrypoints.openai.api_server --model …: default port 8000, no sleep flag', () => {
      const s = vllm(classifyCommand('/opt/venv/bin/python3 -m vllm.entrypoints.openai.api_server --model meta-llama/Llama-3.1-8B-Instruct --served-model-name llama', DEV));
      assert.equal(s.model, 'meta-llama/Llama-3.1-8B-Instruct');
      assert.deepEqual(s.servedNames, ['llama']);
      assert.equal(s.listen.port, 8000);
      assert.equal(s.listen.portDefault, true);
      assert.equal(s.sleepFlag, false);
    });

    it('/usr/bin/env with assignments in front of python3 -u -m vllm', () => {
      const c = classifyCommand('/usr/bin/env VLLM_SERVER_DEV_MODE=1 CUDA_VISIBLE_DEVICES=1 python3 -u -m vllm.entrypoints.openai.api_server --model m --port 9000 --enable-sleep-mode', {});
      const s = vllm(c);
      assert.equal(s.devMode, true);
      assert.deepEqual(s.visibleDevices, ['1']);
      assert.ok(c.ok && c.via.includes('env'));
    });

    it('uv run with options before vllm serve', () => {
      const c = classifyCommand('/home/u/.local/bin/uv run --project /srv/llm --python 3.12 vllm serve Qwen/Qwen3-0.6B --port 7072 --enable-sleep-mode', DEV);
      const s = vllm(c);
      assert.equal(s.model, 'Qwen/Qwen3-0.6B');
      assert.equal(s.listen.port, 7072);
      assert.ok(c.ok && c.via.includes('uv run'));
    });

    it('bash -c "source venv && exec vllm serve …" (quoted, as newer systemd prints it)', () => {
      const c = classifyCommand(`/bin/bash -c "source /srv/venv/bin/activate && exec vllm serve Qwen/Qwen3-8B --port 7073 --enable-sleep-mode >> /var/log/vllm.log 2>&1"`, DEV);
      const s = vllm(c);
      assert.equal(s.listen.port, 7073);
      assert.ok(c.ok && c.notes.some((n) => n.includes('sources /srv/venv/bin/activate')));
    });

    it('bash -c with the script flattened into words (systemd 252 prints argv unquoted)', () => {
      const s = vllm(classifyCommand(`/bin/bash -c cd /srv/app && VLLM_SERVER_DEV_MODE=1 exec /srv/venv/bin/vllm serve 'my model' --port 7074 --enable-sleep-mode`, {}));
      assert.equal(s.model, 'my model');
      assert.equal(s.devMode, true);
      assert.equal(s.listen.port, 7074);
    });

    it('a model after the options, and underscore spellings of options', () => {
      const s = vllm(classifyCommand('vllm serve --enforce-eager --gpu_memory_utilization 0.5 --port 7075 --model org/embed', DEV));
      assert.equal(s.model, 'org/embed');
      assert.equal(s.gpuMemoryUtilization, 0.5);
    });

    it('--no-enable-sleep-mode after --enable-sleep-mode switches it off (the last one wins)', () => {
      assert.equal(vllm(classifyCommand('vllm serve m --enable-sleep-mode --no-enable-sleep-mode', DEV)).sleepFlag, false);
    });

    it('the port from the unit environment (${PORT}) and arguments from $ARGS split into words', () => {
      const s = vllm(classifyCommand('/usr/bin/vllm serve ${MODEL} --port ${PORT} $ARGS', { MODEL: 'org/m', PORT: '7076', ARGS: '--enable-sleep-mode --host 127.0.0.1', ...DEV }));
      assert.equal(s.model, 'org/m');
      assert.equal(s.listen.port, 7076);
      assert.equal(s.sleepFlag, true);
      assert.equal(s.listen.exposed, false);
    });

    it('a port from a variable the unit does not set is refused, naming it', () => {
      assert.match(reason(classifyCommand('/usr/bin/vllm serve m --port $PORT', {})), /\$PORT comes from a variable/);
    });

    it('expandable segments in PYTORCH_CUDA_ALLOC_CONF are seen', () => {
      assert.equal(vllm(classifyCommand('vllm serve m --enable-sleep-mode', { ...DEV, PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' })).expandableSegments, true);
    });

    it('VLLM_SERVER_DEV_MODE=0 is off', () => {
      assert.equal(vllm(classifyCommand('vllm serve m', { VLLM_SERVER_DEV_MODE: '0' })).devMode, false);
    });

    it('conda run -n env and nice -n 10 in front', () => {
      const s = vllm(classifyCommand('/usr/bin/nice -n 10 /opt/conda/bin/conda run -n llm --no-capture-output vllm serve m --port 7077', DEV));
      assert.equal(s.listen.port, 7077);
    });

    it('a vLLM bound to a LAN address is refused: gpumod calls loopback only', () => {
      assert.match(reason(classifyCommand('vllm serve m --host 192.168.1.20', DEV)), /listens on 192\.168\.1\.20 only/);
    });

    it('vllm with another subcommand is not a server', () => {
      assert.match(reason(classifyCommand('vllm bench serve --model m', {})), /not "vllm serve"/);
    });
  });

  describe('llama-server', () => {
    it('router mode: --models-dir, --models-max, --no-models-autoload, loopback by default', () => {
      const s = server(classifyCommand('/opt/llama.cpp/build/bin/llama-server --models-dir /srv/models --models-max 1 --no-models-autoload --port 7070 -ngl 99', {})) as LlamaRouter;
      assert.equal(s.kind, 'llama-router');
      assert.equal(s.modelsDir, '/srv/models');
      assert.equal(s.modelsMax, 1);
      assert.equal(s.autoload, false);
      assert.deepEqual(s.listen, { port: 7070, portDefault: false, bind: '127.0.0.1', host: '127.0.0.1', exposed: false });
    });

    it('router mode without any models flag: autoload on, --models-max 4, port 8080', () => {
      const c = classifyCommand('llama-server --host 0.0.0.0', {});
      const s = server(c) as LlamaRouter;
      assert.equal(s.kind, 'llama-router');
      assert.equal(s.modelsMax, 4);
      assert.equal(s.autoload, true);
      assert.equal(s.listen.port, 8080);
      assert.ok(c.ok && c.notes.some((n) => n.includes('8080')));
    });

    it('router mode from --models-preset and LLAMA_ARG_PORT in the environment', () => {
      const s = server(classifyCommand('llama-server --models-preset /srv/presets.ini --sleep-idle-seconds 300', { LLAMA_ARG_PORT: '7071' })) as LlamaRouter;
      assert.equal(s.modelsPreset, '/srv/presets.ini');
      assert.equal(s.listen.port, 7071);
      assert.equal(s.sleepIdleSeconds, 300);
    });

    it('a single model with -m and an alias', () => {
      const s = server(classifyCommand('llama-server -m /models/qwen3-8b-q4_k_m.gguf -a qwen3 --port=7079 -c 8192', {})) as LlamaSingle;
      assert.equal(s.kind, 'llama-single');
      assert.equal(s.model, '/models/qwen3-8b-q4_k_m.gguf');
      assert.equal(s.alias, 'qwen3');
      assert.equal(s.listen.port, 7079);
    });

    it('a single model from -hf', () => {
      const s = server(classifyCommand('llama-server -hf ggml-org/gemma-3-1b-it-GGUF --port 7080', {})) as LlamaSingle;
      assert.equal(s.kind, 'llama-single');
      assert.equal(s.model, 'ggml-org/gemma-3-1b-it-GGUF');
    });
  });

  describe('HTTP apps', () => {
    it('uvicorn app:app --port N (127.0.0.1 by default)', () => {
      const s = server(classifyCommand('/srv/asr/.venv/bin/uvicorn asr.main:app --port 7081', {})) as HttpApp;
      assert.equal(s.kind, 'http-app');
      assert.equal(s.runner, 'uvicorn');
      assert.equal(s.app, 'asr.main:app');
      assert.equal(s.listen.host, '127.0.0.1');
      assert.equal(s.listen.port, 7081);
    });

    it('python -m uvicorn with the app after its options', () => {
      const s = server(classifyCommand('/usr/bin/python3 -m uvicorn --host 0.0.0.0 --port 7082 --workers 2 tts.server:app', {})) as HttpApp;
      assert.equal(s.app, 'tts.server:app');
      assert.equal(s.listen.exposed, true);
      assert.equal(s.workers, 2);
    });

    it('fastapi run (0.0.0.0:8000 by default) and fastapi dev (127.0.0.1)', () => {
      const run = server(classifyCommand('fastapi run main.py', {})) as HttpApp;
      assert.equal(run.runner, 'fastapi');
      assert.equal(run.listen.port, 8000);
      assert.equal(run.listen.exposed, true);
      const dev = server(classifyCommand('fastapi dev app/main.py --port 7083', {})) as HttpApp;
      assert.equal(dev.listen.exposed, false);
      assert.equal(dev.listen.port, 7083);
    });

    it('gunicorn with uvicorn workers and -b host:port', () => {
      const s = server(classifyCommand('/srv/venv/bin/gunicorn -k uvicorn.workers.UvicornWorker -w 1 -b 127.0.0.1:7084 app:app', {})) as HttpApp;
      assert.equal(s.runner, 'gunicorn');
      assert.equal(s.listen.port, 7084);
      assert.equal(s.app, 'app:app');
    });

    it('uv run -m uvicorn', () => {
      const s = server(classifyCommand('uv run --directory /srv/rerank -m uvicorn rerank:app --port 7085', {})) as HttpApp;
      assert.equal(s.runner, 'uvicorn');
      assert.equal(s.listen.port, 7085);
    });
  });

  describe('what cannot be classified, with the reason', () => {
    it('docker run', () => {
      assert.match(reason(classifyCommand('/usr/bin/docker run --rm --gpus all -p 8000:8000 vllm/vllm-openai --model m', {})), /container.*out of scope/);
    });
    it('sh -c with a pipe', () => {
      assert.match(reason(classifyCommand('/bin/sh -c "vllm serve m --port 7071 | tee /tmp/log"', DEV)), /pipeline/);
    });
    it('bash -c with two commands', () => {
      assert.match(reason(classifyCommand(`/bin/bash -c "sleep 5; vllm serve m"`, {})), /several commands/);
    });
    it('bash -c running a command before the server with &&', () => {
      assert.match(reason(classifyCommand(`/bin/bash -c "nvidia-smi -pm 1 && vllm serve m"`, {})), /runs "nvidia-smi" and then the server/);
    });
    it('a shell script', () => {
      assert.match(reason(classifyCommand('/bin/bash /home/u/start-llm.sh', {})), /runs the script \/home\/u\/start-llm\.sh/);
    });
    it('a Python script', () => {
      assert.match(reason(classifyCommand('/usr/bin/python3 /srv/app/server.py --port 9000', {})), /Python script \/srv\/app\/server\.py/);
    });
    it('ollama, by name', () => {
      assert.match(reason(classifyCommand('/usr/local/bin/ollama serve', {})), /Ollama/);
    });
    it('a command line computed with $(…)', () => {
      assert.match(reason(classifyCommand(`/bin/bash -c "exec vllm serve m --port $(cat /etc/port)"`, {})), /computes its command line/);
    });
    it('several ExecStart commands (oneshot)', () => {
      assert.match(reason(classifyCommand('/usr/bin/true\n/usr/bin/false', {})), /2 commands/);
    });
    it('anything else names its program', () => {
      assert.match(reason(classifyCommand('/usr/bin/gpg-agent --supervised', {})), /"gpg-agent": not vLLM/);
    });
    it('a unit without ExecStart', () => {
      assert.match(reason(classifyCommand(undefined, {})), /no ExecStart/);
    });
  });
});
