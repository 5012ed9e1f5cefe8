// One llama.cpp router serving several models (router mode): the services that share its unit are
// one process. Each model is a child of the router (titled with its command line, as the real router
// spawns it), the router's own memory counts once, and an action on one model never takes the others
// down. The fake router as a unit of the real user manager, the real CLI, the fake nvidia-smi.
import * as assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../../demo/workstation';
import { readHolders } from '../../fakes/lib/gpuFiles';
import { installUnit, managerSystemd, removeUnit, scratchDir, testPort, unitName } from '../support/testManager';
import { gpumod, type CliRun } from '../cli/runCli';
import { fakeGpuCliEnv } from '../support/cliEnv';

const ROUTER = join(REPO, 'out/test/fakes/llamaRouter.js');

interface Setup {
  env: Record<string, string>;
  gpuDir: string;
  url: string;
  unit: string;
}

async function setUp(name: string, port: number, routerArgs: string[], services: string, modes: string, foreignMb: number): Promise<Setup> {
  const dir = join(scratchDir(), name);
  const gpuDir = join(dir, 'gpu');
  mkdirSync(gpuDir, { recursive: true });
  writeFileSync(join(gpuDir, 'foreign.json'), JSON.stringify(foreignMb ? [{ pid: 999_999, usedMb: foreignMb, gpu: 0 }] : []));
  const unit = unitName(name);
  await installUnit(unit, {
    execStart: [process.execPath, ROUTER, '--port', String(port), '--no-models-autoload', '--startup-ms', '50', '--load-ms', '150', '--unload-ms', '20', '--stop-ms', '100', '--gpu-dir', gpuDir, ...routerArgs],
  });
  const config = join(dir, 'gpumod.yaml');
  writeFileSync(config, `services:\n${services.replace(/UNIT/g, unit).replace(/PORT/g, String(port))}modes:\n${modes}`);
  const env = fakeGpuCliEnv(dir, gpuDir, config);
  return { env, gpuDir, url: `http://127.0.0.1:${port}`, unit };
}

interface Status {
  mode: string | null;
  drift: string[];
  services: Array<{ name: string; state: string; sleep?: string; detail?: string; vram_mb?: number }>;
}

async function status(s: Setup): Promise<Status> {
  const r = await gpumod(['status', '--json'], s.env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

async function states(s: Setup): Promise<Record<string, string>> {
  return Object.fromEntries((await status(s)).services.map((x) => [x.name, x.sleep ? `${x.state}:${x.sleep}` : x.state]));
}

async function switchTo(s: Setup, mode: string): Promise<{ run: CliRun; steps: string[] }> {
  const run = await gpumod(['switch', mode, '--json'], s.env, 60_000);
  const steps = run.code === 0 || run.stdout.startsWith('{') ? ((JSON.parse(run.stdout) as { steps: Array<{ service: string; action: string; result: string }> }).steps ?? []).filter((x) => x.action !== 'verify' && x.action !== 'wait-free').map((x) => `${x.action} ${x.service} ${x.result}`) : [];
  return { run, steps };
}

async function routerState(s: Setup): Promise<Array<{ id: string; status: string; childPid: number | null }>> {
  const res = await fetch(`${s.url}/_fake/state`);
  return ((await res.json()) as { models: Array<{ id: string; status: string; childPid: number | null }> }).models;
}

/** The MB each holding PID shows on the fake card, foreign processes left out. */
function holders(s: Setup): number[] {
  return readHolders(s.gpuDir).filter((h) => !h.foreign).map((h) => h.usedMb).sort((a, b) => a - b);
}

async function mainPid(s: Setup): Promise<number> {
  return (await managerSystemd().show(s.unit)).mainPid;
}

describe('one llama.cpp router, several models (CLI, fake router under the real user manager)', function () {
  this.timeout(120_000);
  let s: Setup;

  before(async () => {
    // router.service serves coder and chat (and a small model) on a 24 GB card beside a 1 GB foreign process.
    s = await setUp(
      'shared-router',
      testPort(1150),
      ['--models', 'coder,chat,tiny', '--models-max', '2', '--router-vram-mb', '1200', '--vram-mb-per-model', 'coder=20800,chat=9000,tiny=500'],
      `  coder: { driver: llamacpp, unit: UNIT, port: PORT, vram_mb: 22000, sleep_vram_mb: 1200, model: coder }
  chat:  { driver: llamacpp, unit: UNIT, port: PORT, vram_mb: 10200, sleep_vram_mb: 1200, model: chat }
  tiny:  { driver: llamacpp, unit: UNIT, port: PORT, vram_mb: 1700, sleep_vram_mb: 1200, model: tiny }
`,
      `  code: { services: [coder] }
  chat: { services: [chat] }
  pair: { services: [chat, tiny] }
  three: { services: [coder, chat, tiny] }
  blank: { services: [] }
`,
      1024,
    );
  });

  after(async () => {
    await removeUnit(s.unit);
  });

  it('chat → code on a tight card unloads chat and loads coder into the same router (not stopped), memory per model', async () => {
    assert.equal((await switchTo(s, 'chat')).run.code, 0);
    const pid = await mainPid(s);
    const { run, steps } = await switchTo(s, 'code');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(steps, ['sleep chat ok', 'load coder ok']);
    assert.equal(await mainPid(s), pid, 'the router was not restarted');
    const st = await status(s);
    assert.equal(st.mode, 'code');
    const vram = Object.fromEntries(st.services.map((x) => [x.name, x.vram_mb]));
    // Each model's child by its --alias; the router's own 1.2 GB is no model's.
    assert.deepEqual(vram, { coder: 20800, chat: 0, tiny: 0 });
    assert.deepEqual(holders(s), [1200, 20800]);
  });

  it('a mode needing three models from a router at --models-max 2 is refused, nothing touched', async () => {
    const pid = await mainPid(s);
    const { run } = await switchTo(s, 'three');
    assert.notEqual(run.code, 0);
    assert.match(run.stderr + run.stdout, /three needs 3 models from the llama\.cpp router \S+ \(coder, chat, tiny\), but it runs with --models-max 2/);
    assert.equal(await mainPid(s), pid);
    assert.deepEqual(await states(s), { coder: 'running', chat: 'sleeping:router', tiny: 'sleeping:router' });
  });

  it('code → pair at --models-max 2 unloads coder first: the router evicts neither model of pair', async () => {
    const { run, steps } = await switchTo(s, 'pair');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(steps.slice(0, 1), ['sleep coder ok']);
    assert.deepEqual(await states(s), { coder: 'sleeping:router', chat: 'running', tiny: 'running' });
    assert.deepEqual(holders(s), [500, 1200, 9000]);
  });

  it('stop tiny while chat is loaded unloads tiny only, and says the router keeps serving chat', async () => {
    const pid = await mainPid(s);
    const r = await gpumod(['stop', 'tiny'], s.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /tiny: stop done in .*: its model was unloaded; the router \S+ keeps serving chat/);
    assert.equal(await mainPid(s), pid);
    assert.deepEqual(await states(s), { coder: 'sleeping:router', chat: 'running', tiny: 'sleeping:router' });
    assert.deepEqual(holders(s), [1200, 9000]);
  });

  it('restart chat while tiny is loaded reloads chat only', async () => {
    assert.equal((await gpumod(['wake', 'tiny'], s.env)).code, 0);
    const pid = await mainPid(s);
    const r = await gpumod(['restart', 'chat'], s.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /its model was unloaded and loaded again; the router \S+ kept serving tiny/);
    assert.equal(await mainPid(s), pid);
    assert.deepEqual(await states(s), { coder: 'sleeping:router', chat: 'running', tiny: 'running' });
  });

  it('a loaded model whose child was killed reads "its process ended"; the switch loads it again into the running router', async () => {
    const pid = await mainPid(s);
    const res = await fetch(`${s.url}/_fake/kill-model`, { method: 'POST', body: JSON.stringify({ model: 'chat' }) });
    assert.equal(res.status, 200);
    const chat = (await status(s)).services.find((x) => x.name === 'chat');
    assert.equal(chat?.state, 'failed');
    assert.match(chat?.detail ?? '', /^its process ended \(killed, or crashed: exit code 1\) after its model had loaded$/);
    const { run, steps } = await switchTo(s, 'pair');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(steps, ['load chat ok']);
    assert.equal(await mainPid(s), pid, 'not a cold start of the router (tiny kept serving)');
    assert.deepEqual((await routerState(s)).map((m) => `${m.id}=${m.status}`), ['coder=unloaded', 'chat=loaded', 'tiny=loaded']);
  });

  it('stop of the last loaded model stops the unit and says what went with it', async () => {
    assert.equal((await gpumod(['stop', 'chat'], s.env)).code, 0);
    const r = await gpumod(['stop', 'tiny'], s.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /no other model of \S+ was loaded, so the router stopped \(coder, chat with it\)/);
    assert.equal((await managerSystemd().show(s.unit)).activeState, 'inactive');
    assert.deepEqual(holders(s), []);
  });
});

describe('a router\'s idle models and --models-max 1 (CLI, fake router under the real user manager)', function () {
  this.timeout(120_000);
  let s: Setup;

  before(async () => {
    s = await setUp(
      'idle-router',
      testPort(1151),
      ['--models', 'tiny-a,tiny-b', '--models-max', '1', '--sleep-idle-seconds', '1', '--model-vram-mb', '800', '--sleeping-vram-mb', '300'],
      `  a: { driver: llamacpp, unit: UNIT, port: PORT, vram_mb: 800, sleep_vram_mb: 0, model: tiny-a }
  b: { driver: llamacpp, unit: UNIT, port: PORT, vram_mb: 800, sleep_vram_mb: 0, model: tiny-b }
`,
      `  ma: { services: [a] }
  both: { services: [a, b] }
  blank: { services: [] }
`,
      0,
    );
  });

  after(async () => {
    await removeUnit(s.unit);
  });

  const idle = async (name: string): Promise<void> => {
    for (let i = 0; i < 60; i++) {
      if ((await routerState(s)).find((m) => m.id === name)?.status === 'sleeping') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${name} never went idle`);
  };

  it('both models at --models-max 1 is refused with the reason (nothing is evicted)', async () => {
    assert.equal((await switchTo(s, 'ma')).run.code, 0);
    const { run } = await switchTo(s, 'both');
    assert.notEqual(run.code, 0);
    assert.match(run.stderr + run.stdout, /both needs 2 models from the llama\.cpp router \S+ \(a, b\), but it runs with --models-max 1/);
    // tiny-a may have gone idle meanwhile (--sleep-idle-seconds 1): still in memory, not evicted.
    assert.match((await routerState(s)).map((m) => `${m.id}=${m.status}`).join(' '), /^tiny-a=(loaded|sleeping) tiny-b=unloaded$/);
  });

  it('an idle model keeps its mode (no drift), and switching to blank unloads it: no child holds memory', async () => {
    await idle('tiny-a');
    const st = await status(s);
    assert.equal(st.mode, 'ma');
    assert.deepEqual(st.drift, []);
    assert.equal(st.services.find((x) => x.name === 'a')?.sleep, 'idle');
    assert.deepEqual(holders(s), [300], 'the idle child still holds memory');
    const { run, steps } = await switchTo(s, 'blank');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(steps, ['sleep a ok']);
    assert.deepEqual(holders(s), []);
    assert.equal((await routerState(s)).find((m) => m.id === 'tiny-a')?.childPid, null);
  });

  it('gpumod sleep on an idle model unloads it', async () => {
    assert.equal((await switchTo(s, 'ma')).run.code, 0);
    await idle('tiny-a');
    const r = await gpumod(['sleep', 'a'], s.env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((await routerState(s)).find((m) => m.id === 'tiny-a')?.status, 'unloaded');
    assert.deepEqual(holders(s), []);
  });

  it('the history says what happened', () => {
    const dir = join(s.env.XDG_STATE_HOME, 'gpumod');
    const file = readdirSync(dir).find((f) => f.startsWith('history'));
    assert.ok(file, readdirSync(dir).join(','));
    const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; to?: string; service?: string; ok: boolean });
    assert.deepEqual(lines.slice(-3).map((l) => `${l.kind} ${l.service ?? l.to} ${l.ok}`), ['switch blank true', 'switch ma true', 'service a true']);
  });
});
