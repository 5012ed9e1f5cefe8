// A service whose unit fails at once, through the real CLI and the real user manager: the failed
// start ends the command at once (its long start-up deadline notwithstanding), the unit left failed
// at its start limit starts again once its cause is fixed, and without a GPU a release's
// freed-memory wait reads as skipped in the progress lines and the JSON alike.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installUnit, managerEnv, managerSystemd, removeUnit, scratchDir, testPort, unitName } from '../support/testManager';
import { gpumod } from './runCli';

/** Exits 1 until $READY_MARKER exists (a missing model file, say); then serves /health. */
const FLAKY = `
const fs = require('node:fs');
if (!fs.existsSync(process.env.READY_MARKER)) { console.error('no ' + process.env.READY_MARKER + ': giving up'); process.exit(1); }
require('node:http').createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

interface StepJson {
  service: string;
  action: string;
  result: string;
  start_ms: number;
  ms: number;
  error?: string;
}

describe('cli: a unit that fails at once (real user manager, no GPU)', function () {
  this.timeout(150_000);
  const PORT = testPort(1170);
  const UNIT = unitName('cli-flaky');
  const dir = join(scratchDir(), 'failed-start');
  const marker = join(dir, 'model-ready');
  let env: Record<string, string>;

  before(async () => {
    mkdirSync(dir, { recursive: true });
    await installUnit(UNIT, {
      execStart: [process.execPath, '-e', FLAKY],
      env: { READY_MARKER: marker, PORT: String(PORT) },
      // One start per 10 min: the failed start leaves the unit at its start limit.
      unit: { StartLimitIntervalSec: '600', StartLimitBurst: '1' },
    });
    const config = join(dir, 'gpumod.yaml');
    writeFileSync(
      config,
      `services:
  flaky: { driver: systemd, unit: ${UNIT}, port: ${PORT}, vram_mb: 100, startup_timeout_s: 90 }
modes:
  on: { services: [flaky] }
  blank: { services: [] }
`,
    );
    env = { ...managerEnv(), GPUMOD_CONFIG: config, GPUMOD_NVIDIA_SMI: join(dir, 'no-nvidia-smi'), XDG_STATE_HOME: join(dir, 'state') };
  });

  after(async () => {
    await removeUnit(UNIT);
  });

  it('a failed cold start exits at once with its result, not after its 90 s start-up deadline; its JSON is snake_case', async () => {
    assert.ok(!existsSync(marker));
    const t0 = Date.now();
    const r = await gpumod(['start', 'flaky', '--json'], env, 120_000);
    const took = Date.now() - t0;
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.ok(took < 15_000, `the CLI exited ${took} ms after it began`);
    const out = JSON.parse(r.stdout) as { ok: boolean; steps: StepJson[]; failure: { action: string } | null };
    assert.equal(out.ok, false);
    assert.equal(out.failure?.action, 'start');
    const start = out.steps.find((s) => s.action === 'start');
    assert.ok(start, r.stdout);
    assert.match(start.error ?? '', new RegExp(`exited during start-up \\(exit-code, exit status 1\\)`));
    assert.deepEqual(Object.keys(start).filter((k) => /[A-Z]/.test(k)), [], `one JSON shape with switch --json: ${JSON.stringify(start)}`);
    assert.equal(typeof start.start_ms, 'number');
    assert.equal((await managerSystemd().show(UNIT)).activeState, 'failed');
  });

  it('the unit left failed at its start limit starts once its cause is fixed: gpumod switch resets it first', async () => {
    writeFileSync(marker, 'ok');
    // systemd itself refuses: the unit is at its start limit.
    await assert.rejects(managerSystemd().start(UNIT, { timeoutMs: 15_000 }));
    const r = await gpumod(['switch', 'on'], env, 120_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /✓ start flaky/);
    assert.equal((await managerSystemd().show(UNIT)).activeState, 'active');
  });

  it('without a GPU the freed-memory wait is shown skipped, in text and JSON, with no warning', async () => {
    const r = await gpumod(['switch', 'blank'], env, 60_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^ {2}· wait-free gpu .*skipped: no NVIDIA GPU visible/m);
    assert.doesNotMatch(r.stdout, /✗/);
    assert.doesNotMatch(r.stderr, /wait-free/);
    const on = await gpumod(['switch', 'on'], env, 60_000);
    assert.equal(on.code, 0, `${on.stdout}\n${on.stderr}`);
    const j = await gpumod(['switch', 'blank', '--json'], env, 60_000);
    assert.equal(j.code, 0, j.stderr);
    const wait = (JSON.parse(j.stdout) as { steps: StepJson[] }).steps.find((s) => s.action === 'wait-free');
    assert.equal(wait?.result, 'skipped');
    assert.doesNotMatch(j.stderr, /wait-free/);
  });
});
