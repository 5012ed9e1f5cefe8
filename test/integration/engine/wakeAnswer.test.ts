// A wake verified by the model's output: the fake vLLM with --wake-drift answers otherwise after any
// wake (as a stale prefix cache or an L1 wake that corrupts LoRA adapters makes a real one do). gpumod
// keeps the deterministic readiness answer after a cold start, compares it after each wake, and
// restarts the service cold when it differs. The real CLI, a fake vLLM unit under the user manager.
import * as assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../../demo/workstation';
import { gpumod } from '../cli/runCli';
import { installUnit, removeUnit, scratchDir, testPort, unitName } from '../support/testManager';
import { fakeGpuCliEnv } from '../support/cliEnv';

const VLLM = join(REPO, 'out/test/fakes/vllm.js');

interface Step {
  service: string;
  action: string;
  result: string;
  error?: string;
}

describe('a wake is verified by the model\'s answer (CLI, fake vLLM with --wake-drift)', function () {
  this.timeout(90_000);
  const PORT = testPort(1190);
  const UNIT = unitName('wake-answer');
  let env: Record<string, string>;
  let stateFile: string;

  before(async () => {
    const dir = join(scratchDir(), 'wake-answer');
    const gpuDir = join(dir, 'gpu');
    mkdirSync(gpuDir, { recursive: true });
    await installUnit(UNIT, {
      execStart: [process.execPath, VLLM, '--port', String(PORT), '--model', 'chat', '--startup-ms', '100', '--sleep-ms-l1', '20', '--wake-ms-l1', '20',
        '--vram-mb', '7000', '--vram-asleep-mb', '1500', '--stop-ms', '50', '--gpu-dir', gpuDir, '--wake-drift', 'on'],
    });
    const config = join(dir, 'gpumod.yaml');
    writeFileSync(
      config,
      `services:
  chat: { driver: vllm, unit: ${UNIT}, port: ${PORT}, vram_mb: 7000, sleep: l1, sleep_vram_mb: 1500,
          readiness: { path: /v1/completions, body: { model: chat, prompt: "Say hello", max_tokens: 1 } } }
modes:
  talk: { services: [chat] }
  quiet: { services: [] }
`,
    );
    env = fakeGpuCliEnv(dir, gpuDir, config);
    stateFile = join(dir, 'state/gpumod/state.json');
  });

  after(async () => {
    await removeUnit(UNIT);
  });

  async function switchTo(mode: string): Promise<{ ok: boolean; message: string; steps: Step[] }> {
    const r = await gpumod(['switch', mode, '--json'], env, 60_000);
    assert.ok(r.stdout.startsWith('{'), `switch ${mode}: ${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as { ok: boolean; message: string; steps: Step[] };
  }

  it('records the answer after the cold start, and restarts the server cold when a wake changes it', async () => {
    const cold = await switchTo('talk');
    assert.equal(cold.ok, true, cold.message);
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { answers?: Record<string, { answer: string; pid: number }> };
    assert.equal(state.answers?.chat?.answer, 'Hello from chat.');

    const quiet = await switchTo('quiet');
    assert.equal(quiet.ok, true, quiet.message);
    assert.ok(quiet.steps.some((s) => s.service === 'chat' && s.action === 'sleep' && s.result === 'ok'), JSON.stringify(quiet.steps));

    const back = await switchTo('talk');
    assert.equal(back.ok, true, back.message);
    const did = back.steps.filter((s) => s.service === 'chat').map((s) => `${s.action} ${s.result}`);
    assert.deepEqual(did, ['wake ok', 'ready failed', 'restart ok', 'ready ok']);
    assert.match(back.steps.find((s) => s.action === 'ready' && s.result === 'failed')?.error ?? '', /^chat answers "Hello form chat!" after its wake where it answered "Hello from chat\." after its cold start: woken wrong/);
    assert.match(back.message, /chat was restarted cold/);
    const after = JSON.parse(readFileSync(stateFile, 'utf8')) as { answers?: Record<string, { answer: string; pid: number }> };
    assert.equal(after.answers?.chat?.answer, 'Hello from chat.');
    assert.notEqual(after.answers?.chat?.pid, state.answers?.chat?.pid, 'the reference belongs to the new process');
  });
});
