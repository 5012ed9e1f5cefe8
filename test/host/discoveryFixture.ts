// Units with real-shaped command lines for the Detect Services host test, in a sandboxed systemd user
// manager: a vLLM (`…/venv/bin/vllm serve … --enable-sleep-mode`, VLLM_SERVER_DEV_MODE=1) and a
// llama-server router with one model loaded, both running; a stopped vLLM without dev mode; a unit
// gpumod cannot drive. Prints one JSON line {"env", "units"} and tears everything down when its
// stdin closes or on SIGTERM/SIGINT.
// Usage: node out/test/host/discoveryFixture.js [--port-base N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../demo/workstation';
import { silentLogger } from '../../src/system/logger';
import { createSystemd } from '../../src/system/systemd';
import { unitFileText, type UnitSpec } from '../../src/system/unitFile';
import { writeShapedPrograms } from '../integration/support/shapedPrograms';
import { fixtureArg, runFixture } from './_fixtureProcess';

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 20_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

runFixture(async ({ dir, env }, onTeardown) => {
  const systemd = createSystemd(silentLogger, { env });
  const unitDir = join(env.XDG_CONFIG_HOME, 'systemd/user');
  const units = { chat: 'discovery-chat.service', embed: 'discovery-embed.service', router: 'discovery-router.service', docker: 'discovery-docker.service' };
  onTeardown(async () => void (await Promise.all(Object.values(units).map((u) => systemd.stop(u, { timeoutMs: 15_000 }).catch(() => undefined)))));
  const base = Number(fixtureArg('port-base', '19900'));
  const work = join(dir, 'discovery');
  const gpuDir = join(work, 'gpu');
  const models = join(work, 'models');
  mkdirSync(gpuDir, { recursive: true });
  mkdirSync(models, { recursive: true });
  mkdirSync(unitDir, { recursive: true });
  writeFileSync(join(models, 'qwen3-8b-q4.gguf'), 'x'.repeat(2048));
  const { vllm, llama } = writeShapedPrograms(work, join(REPO, 'out/test/fakes'));
  const specs: Record<string, UnitSpec> = {
    [units.chat]: { execStart: [vllm, 'serve', 'Qwen/Qwen3-8B', '--port', String(base), '--host', '127.0.0.1', '--enable-sleep-mode'], env: { FAKE_GPU_DIR: gpuDir, VLLM_SERVER_DEV_MODE: '1', FAKE_VRAM_MB: '7000' } },
    [units.embed]: { execStart: [vllm, 'serve', 'BAAI/bge-m3', `--port=${base + 1}`, '--gpu-memory-utilization', '0.1'], env: { FAKE_GPU_DIR: gpuDir } },
    [units.router]: { execStart: [llama, '--models-dir', models, '--no-models-autoload', '--host', '127.0.0.1', '--port', String(base + 2)], env: { FAKE_GPU_DIR: gpuDir } },
    [units.docker]: { execStart: ['/usr/bin/docker', 'run', '--rm', 'vllm/vllm-openai'] },
  };
  for (const [unit, spec] of Object.entries(specs)) writeFileSync(join(unitDir, unit), unitFileText(unit, spec));
  await systemd.daemonReload({ timeoutMs: 15_000 });
  await systemd.start(units.chat, { timeoutMs: 15_000 });
  await systemd.start(units.router, { timeoutMs: 15_000 });
  const ok = async (port: number, path: string): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}${path}`)).ok;
  await until('the vLLM serving', () => ok(base, '/health'));
  await until('the router serving', () => ok(base + 2, '/health'));
  await fetch(`http://127.0.0.1:${base + 2}/models/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"qwen3-8b-q4"}' });
  await until('the model loaded', async () => JSON.stringify(await (await fetch(`http://127.0.0.1:${base + 2}/models`)).json()).includes('"value":"loaded"'));
  const out = { ...env, GPUMOD_NVIDIA_SMI: join(REPO, 'test/fakes/bin/nvidia-smi'), FAKE_GPU_DIR: gpuDir, FAKE_GPU_TOTAL_MB: '32768', DISCOVERY_CHAT_PORT: String(base) };
  return { env: out, units, ports: { chat: base, embed: base + 1, router: base + 2 } };
});
