// Services that share a port are alternatives (the original gpumod's layout: several llama.cpp
// servers on :7070, one per mode): a switch stops one, never sleeps it (its router would keep the
// port), before it starts the other. Two fake llama.cpp routers as units of the real user manager.
import * as assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../../demo/workstation';
import { installUnit, managerSystemd, removeUnit, scratchDir, testPort, unitName } from '../support/testManager';
import { gpumod } from '../cli/runCli';
import { fakeGpuCliEnv } from '../support/cliEnv';

const ROUTER = join(REPO, 'out/test/fakes/llamaRouter.js');

interface Status {
  mode: string | null;
  services: Array<{ name: string; state: string; sleep?: string }>;
}

describe('services on one port switch as alternatives (CLI, two fake routers under the real user manager)', function () {
  this.timeout(90_000);
  const PORT = testPort(1120);
  const units = { coder: unitName('alt-coder'), nemo: unitName('alt-nemo') };
  let env: Record<string, string>;

  const router = (model: string, gpuDir: string): string[] => [
    process.execPath, ROUTER, '--models', model, '--models-max', '1', '--no-models-autoload', '--port', String(PORT),
    '--router-vram-mb', '300', '--model-vram-mb', '9000', '--startup-ms', '50', '--load-ms', '100', '--unload-ms', '20', '--stop-ms', '100', '--gpu-dir', gpuDir,
  ];

  before(async () => {
    const dir = join(scratchDir(), 'shared-port');
    const gpuDir = join(dir, 'gpu');
    mkdirSync(gpuDir, { recursive: true });
    await installUnit(units.coder, { execStart: router('coder-30b', gpuDir) });
    await installUnit(units.nemo, { execStart: router('nemotron-30b', gpuDir) });
    const config = join(dir, 'gpumod.yaml');
    writeFileSync(
      config,
      `services:
  coder: { driver: llamacpp, unit: ${units.coder}, port: ${PORT}, vram_mb: 9300, model: coder-30b, sleep_vram_mb: 300 }
  nemo:  { driver: llamacpp, unit: ${units.nemo}, port: ${PORT}, vram_mb: 9300, model: nemotron-30b, sleep_vram_mb: 300 }
modes:
  code: { services: [coder] }
  nemotron: { services: [nemo] }
  blank: { services: [] }
`,
    );
    env = fakeGpuCliEnv(dir, gpuDir, config);
  });

  after(async () => {
    await removeUnit(units.coder);
    await removeUnit(units.nemo);
  });

  async function switchTo(mode: string): Promise<{ steps: Array<{ service: string; action: string; result: string }> }> {
    const r = await gpumod(['switch', mode, '--json'], env, 60_000);
    assert.equal(r.code, 0, `switch ${mode}: ${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as { steps: Array<{ service: string; action: string; result: string }> };
  }

  async function status(): Promise<Map<string, string>> {
    const r = await gpumod(['status', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Status;
    return new Map(s.services.map((x) => [x.name, x.state]));
  }

  it('code → nemotron → code: the other router is stopped before each start, and each mode is reached', async () => {
    await switchTo('code');
    assert.deepEqual([...(await status())], [['coder', 'running'], ['nemo', 'stopped']]);
    const toNemo = await switchTo('nemotron');
    const did = (j: typeof toNemo): string[] => j.steps.filter((s) => s.action === 'stop' || s.action === 'start' || s.action === 'sleep').map((s) => `${s.action} ${s.service} ${s.result}`);
    assert.deepEqual(did(toNemo), ['stop coder ok', 'start nemo ok']);
    assert.deepEqual([...(await status())], [['coder', 'stopped'], ['nemo', 'running']]);
    assert.equal((await managerSystemd().show(units.coder)).activeState, 'inactive');
    const back = await switchTo('code');
    assert.deepEqual(did(back), ['stop nemo ok', 'start coder ok']);
    assert.deepEqual([...(await status())], [['coder', 'running'], ['nemo', 'stopped']]);
  });

  it('refuses to start one by hand while the other holds the port', async () => {
    const r = await gpumod(['start', 'nemo'], env);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /cannot start nemo: coder is running on the same 127\.0\.0\.1:\d+; stop it first, or switch to a mode with nemo/);
  });
});
