// `gpumod init` as a process against units under the real user manager whose command lines read like
// a real workstation's: `…/venv/bin/vllm serve MODEL --port N --enable-sleep-mode` with
// VLLM_SERVER_DEV_MODE=1, `llama-server --models-dir DIR --no-models-autoload`, `…/uvicorn
// asr.main:app --port N`, plus units gpumod cannot drive. The programs (support/shapedPrograms.ts)
// translate those real flags for the fakes, so the units' ExecStart is the real shape and the
// servers behave like the real ones.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/load';
import { fakeGpuCliEnv } from '../support/cliEnv';
import { writeShapedPrograms } from '../support/shapedPrograms';
import { installUnit, managerSystemd, removeUnit, testPort, unitName } from '../support/testManager';
import { waitFor } from '../support/wait';
import { gpumod } from './runCli';

interface JsonService {
  name: string;
  unit: string;
  kind: string;
  running: boolean;
  driver: string;
  port: number;
  host?: string;
  model?: string;
  vram_mb?: number;
  sleep_vram_mb?: number;
  sleep?: unknown;
  description?: string;
  comments: Record<string, string>;
  notes: string[];
}

interface JsonInit {
  ok: boolean;
  written: boolean;
  services: JsonService[];
  modes: string[];
  not_added: { unit: string; reason: string; why: string; running: boolean }[];
  yaml: string;
}

describe('gpumod init (discovery from real units of vLLM-, llama-server- and uvicorn-shaped command lines)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'gpumod-init-'));
  const gpuDir = join(dir, 'gpu');
  const config = join(dir, 'config', 'gpumod.yaml');
  const u = {
    chat: unitName('init-chat'),
    embed: unitName('init-embed'),
    router: unitName('init-router'),
    single: unitName('init-single'),
    asr: unitName('init-asr'),
    docker: unitName('init-docker'),
    piped: unitName('init-piped'),
  };
  const port = { chat: testPort(880), embed: testPort(881), router: testPort(882), single: testPort(883), asr: testPort(884) };
  let env: Record<string, string>;
  let json: JsonInit;
  let printed: { code: number; stdout: string; stderr: string };

  const svc = (unit: string): JsonService => {
    const found = json.services.find((s) => s.unit === unit);
    assert.ok(found, `no service proposed for ${unit}: ${JSON.stringify(json.not_added.filter((n) => n.unit === unit))}`);
    return found;
  };

  before(async () => {
    mkdirSync(gpuDir);
    const { vllm, llama, uvicorn } = writeShapedPrograms(dir);
    const models = join(dir, 'models');
    mkdirSync(models);
    writeFileSync(join(models, 'qwen3-8b-q4.gguf'), 'x'.repeat(1024));
    writeFileSync(join(models, 'gemma-3-1b.gguf'), 'x'.repeat(1024));
    const gpu = { FAKE_GPU_DIR: gpuDir };
    await installUnit(u.chat, {
      execStart: [vllm, 'serve', 'Qwen/Qwen3-8B', '--port', String(port.chat), '--host', '127.0.0.1', '--enable-sleep-mode', '--gpu-memory-utilization', '0.3'],
      env: { ...gpu, VLLM_SERVER_DEV_MODE: '1', FAKE_VRAM_MB: '7000' },
    });
    // Stopped, no dev mode, bound everywhere by default: proposed, but not to sleep.
    await installUnit(u.embed, { execStart: [vllm, 'serve', 'BAAI/bge-m3', `--port=${port.embed}`, '--gpu-memory-utilization', '0.1'], env: gpu });
    await installUnit(u.router, {
      execStart: [llama, '--models-dir', models, '--models-max', '1', '--no-models-autoload', '--host', '127.0.0.1', '--port', String(port.router)],
      env: gpu,
    });
    await installUnit(u.single, { execStart: ['/opt/llama.cpp/bin/llama-server', '-m', '/models/phi-4-q4.gguf', '--port', String(port.single)] });
    await installUnit(u.asr, { execStart: [uvicorn, 'asr.main:app', '--port', String(port.asr)], env: gpu });
    await installUnit(u.docker, { execStart: ['/usr/bin/docker', 'run', '--rm', '--gpus', 'all', 'vllm/vllm-openai', '--model', 'm'] });
    await installUnit(u.piped, { execStart: ['/bin/sh', '-c', `exec ${vllm} serve m --port ${testPort(885)} | tee /tmp/log`] });
    const sd = managerSystemd();
    for (const unit of [u.chat, u.router, u.asr]) await sd.start(unit, { timeoutMs: 15_000 });
    const up = async (p: number, path: string): Promise<true | undefined> => ((await fetch(`http://127.0.0.1:${p}${path}`).catch(() => undefined))?.ok ? true : undefined);
    await waitFor('the vLLM unit serving', () => up(port.chat, '/health'), 15_000);
    await waitFor('the router serving', () => up(port.router, '/health'), 15_000);
    await waitFor('the app serving', () => up(port.asr, '/health'), 15_000);
    // One model of the router loaded, so it holds memory of its own (in its child process).
    const load = await fetch(`http://127.0.0.1:${port.router}/models/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'qwen3-8b-q4' }) });
    assert.equal(load.status, 200);
    await waitFor('qwen3-8b-q4 loaded', async () => {
      const body = (await (await fetch(`http://127.0.0.1:${port.router}/models`)).json()) as { data: { id: string; status: { value: string } }[] };
      return body.data.find((m) => m.id === 'qwen3-8b-q4')?.status.value === 'loaded' ? true : undefined;
    }, 15_000);
    env = fakeGpuCliEnv(dir, gpuDir, config, 32768);
    const j = await gpumod(['init', '--print', '--json'], env);
    assert.equal(j.code, 0, j.stderr);
    json = JSON.parse(j.stdout) as JsonInit;
    printed = await gpumod(['init', '--print'], env);
  });

  after(async () => {
    for (const unit of Object.values(u)) await removeUnit(unit);
    rmSync(dir, { recursive: true, force: true });
  });

  it('proposes the running vLLM with its port, model, sleep capability and memory measured now', () => {
    const chat = svc(u.chat);
    assert.equal(chat.driver, 'vllm');
    assert.equal(chat.running, true);
    assert.equal(chat.port, port.chat);
    assert.equal(chat.host, undefined); // 127.0.0.1, the default
    assert.equal(chat.description, 'Qwen/Qwen3-8B');
    assert.equal(chat.sleep, 'l1');
    assert.equal(chat.vram_mb, 7000);
    assert.match(chat.comments.vram_mb, /^measured now: 7000 MiB on GPU 0$/);
    assert.match(chat.comments.port, /it answered there/);
  });

  it('proposes the stopped vLLM without dev mode as one gpumod cannot sleep, saying why, and guesses its memory', () => {
    const embed = svc(u.embed);
    assert.equal(embed.running, false);
    assert.equal(embed.port, port.embed);
    assert.equal(embed.sleep, 'none');
    assert.match(embed.comments.sleep, /no --enable-sleep-mode, no VLLM_SERVER_DEV_MODE=1 in its environment: gpumod would cold-start it/);
    assert.equal(embed.vram_mb, 3300); // 0.1 of the fake 32768 MiB card, rounded up
    assert.match(embed.comments.vram_mb, /^guessed: --gpu-memory-utilization 0.1 of 32768 MiB/);
    assert.ok(embed.notes.some((n) => /listens on every interface \(0\.0\.0\.0\)/.test(n)));
  });

  it('proposes one service per model of the running router, the loaded one measured, the router\'s own memory as the residue', () => {
    const models = json.services.filter((s) => s.unit === u.router);
    assert.deepEqual(models.map((m) => m.model).sort(), ['gemma-3-1b', 'qwen3-8b-q4']);
    for (const m of models) {
      assert.equal(m.driver, 'llamacpp');
      assert.equal(m.port, port.router);
      assert.equal(m.sleep_vram_mb, 300);
    }
    const qwen = models.find((m) => m.model === 'qwen3-8b-q4');
    assert.equal(qwen?.vram_mb, 4000);
    assert.match(qwen?.comments.vram_mb ?? '', /^measured now, loaded: 4000 MiB on GPU 0$/);
    assert.match(qwen?.comments.model ?? '', /listed by the router's GET \/models \(loaded now\)/);
    assert.equal(models.find((m) => m.model === 'gemma-3-1b')?.vram_mb, undefined);
    assert.ok(models.some((m) => m.notes.some((n) => /at most 1 loaded at once \(--models-max\)/.test(n))));
  });

  it('finds the running app\'s load/unload hooks without calling them, and measures it', () => {
    const asr = svc(u.asr);
    assert.equal(asr.driver, 'http');
    assert.deepEqual(asr.sleep, { sleep: 'POST /unload', wake: 'POST /load', probe: 'GET /status' });
    assert.equal(asr.vram_mb, 2500);
    assert.equal(asr.description, 'asr.main:app');
  });

  it('proposes a single-model llama-server as start/stop only, saying why', () => {
    const single = svc(u.single);
    assert.equal(single.driver, 'systemd');
    assert.equal(single.port, port.single);
    assert.equal(single.description, 'phi-4-q4');
    assert.match(single.comments.driver, /one model \(-m\): llama-server is started and stopped/);
  });

  it('lists the units it cannot classify, with the reason', () => {
    const reason = (unit: string): string => json.not_added.find((n) => n.unit === unit)?.reason ?? '(not listed)';
    assert.match(reason(u.docker), /runs a container \(docker run\): containers are out of scope/);
    assert.match(reason(u.piped), /sh -c runs a pipeline \(\|\)/);
    assert.ok(printed.stderr.includes(`- ${u.docker}: runs a container`), printed.stderr);
  });

  it('prints a proposal the config loader accepts, with a mode per service and blank, and writes nothing', () => {
    assert.equal(printed.code, 0, printed.stderr);
    const parsed = parseConfig(printed.stdout, 'proposal.yaml');
    assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
    const chat = json.services.find((s) => s.unit === u.chat)?.name ?? '';
    assert.deepEqual(parsed.config.modes.get(chat)?.services, [chat]);
    assert.deepEqual(parsed.config.modes.get('blank')?.services, []);
    assert.equal(parsed.config.services.get(chat)?.vramMb, 7000);
    assert.match(printed.stdout, /vram_mb: 7000 # measured now: 7000 MiB on GPU 0/);
    assert.equal(existsSync(config), false);
    assert.equal(json.written, false);
  });

  it('writes a new file; detects nothing new again; refuses to change it without --merge, which adds only what is new', async () => {
    const first = await gpumod(['init'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^Wrote .*gpumod\.yaml: services /m);
    const written = readFileSync(config, 'utf8');
    assert.ok(parseConfig(written, config).ok);
    // It works as written: gpumod observes the running servers, and a switch to the chat model's mode
    // would put the router's model and the app to sleep, not stop them.
    const name = (unit: string, model?: string): string => json.services.find((x) => x.unit === unit && (model === undefined || x.model === model))?.name ?? '';
    const status = await gpumod(['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const states = new Map((JSON.parse(status.stdout) as { services: { name: string; state: string; healthy: boolean }[] }).services.map((x) => [x.name, x]));
    for (const n of [name(u.chat), name(u.router, 'qwen3-8b-q4'), name(u.asr)]) assert.deepEqual([n, states.get(n)?.state, states.get(n)?.healthy], [n, 'running', true]);
    const plan = await gpumod(['plan', name(u.chat), '--json'], env);
    assert.equal(plan.code, 0, plan.stderr);
    const steps = new Map((JSON.parse(plan.stdout) as { steps: { service: string; action: string }[] }).steps.map((x) => [x.service, x.action]));
    assert.equal(steps.get(name(u.router, 'qwen3-8b-q4')), 'sleep');
    assert.equal(steps.get(name(u.asr)), 'sleep');
    assert.notEqual(steps.get(name(u.chat)), 'start');
    const again = await gpumod(['init'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Nothing to add to /m);
    assert.match(again.stdout, new RegExp(`^= ${u.chat.replace(/\./g, '\\.')}: already in gpumod\\.yaml as `, 'm'));
    // A unit that appears later: init refuses to touch the file, --merge adds it; what the user wrote stays byte for byte.
    const mine = `${written}# my own note\n`;
    writeFileSync(config, mine);
    const late = unitName('init-late');
    await installUnit(late, { execStart: ['/usr/bin/vllm', 'serve', 'org/late', '--port', String(testPort(886)), '--enable-sleep-mode'], env: { VLLM_SERVER_DEV_MODE: '1' } });
    try {
      const refused = await gpumod(['init'], env);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /exists: nothing written\. --merge adds/);
      assert.equal(readFileSync(config, 'utf8'), mine);
      const merged = await gpumod(['init', '--merge'], env);
      assert.equal(merged.code, 0, merged.stderr);
      assert.match(merged.stdout, /^Added to .*gpumod\.yaml: services /m);
      const after = readFileSync(config, 'utf8');
      let rest = after;
      for (const line of mine.split('\n')) {
        const at = rest.indexOf(line);
        assert.ok(at >= 0, `lost or moved: ${JSON.stringify(line)}`);
        rest = rest.slice(at + line.length);
      }
      const cfg = parseConfig(after, config);
      assert.ok(cfg.ok, cfg.ok ? '' : JSON.stringify(cfg.problems));
      const added = [...cfg.config.services.values()].filter((s) => s.unit === late);
      assert.equal(added.length, 1);
      assert.equal(added[0].sleep, 'l1');
      assert.equal(added[0].port, testPort(886));
      assert.equal([...cfg.config.services.values()].filter((s) => s.unit === u.chat).length, 1);
    } finally {
      await removeUnit(late);
    }
  });
});
