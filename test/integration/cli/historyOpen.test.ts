// `gpumod history --open` through the real CLI after real switches: the HTML file it writes holds
// the last switch's chart (a row per recorded step, the same as `history --json` says), stands alone
// (no script, nothing fetched) and sits in the state dir, readable by its owner only.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installUnit, managerEnv, removeUnit, testPort, unitName } from '../support/testManager';
import { gpumod } from './runCli';

const PORT = testPort(900);
const UNIT = unitName('cli-history-open');
const PLAIN = join(process.cwd(), 'out/test/fakes/plainServer.js');

describe('gpumod history --open (the CLI as a process)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'gpumod-h7-'));
  const config = join(dir, 'gpumod.yaml');
  const state = join(dir, 'state');
  let env: Record<string, string>;

  before(async () => {
    await installUnit(UNIT, { execStart: [process.execPath, PLAIN, '--port', String(PORT), '--startup-ms', '0', '--vram-mb', '10'] });
    writeFileSync(config, `services:\n  plain: { driver: systemd, unit: ${UNIT}, port: ${PORT}, vram_mb: 10 }\nmodes:\n  up: { services: [plain] }\n  down: { services: [] }\n`);
    env = { ...managerEnv(), GPUMOD_CONFIG: config, XDG_STATE_HOME: state };
  });
  after(async () => {
    await removeUnit(UNIT);
    rmSync(dir, { recursive: true, force: true });
  });

  it('with nothing recorded: exit 1 and says so, no file', async () => {
    const r = await gpumod(['history', '--open'], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no switch recorded yet/);
    assert.equal(r.stdout, '');
  });

  it('after switches: prints the path of a self-contained chart of the last one', async () => {
    for (const mode of ['up', 'down']) {
      const s = await gpumod(['switch', mode], env);
      assert.equal(s.code, 0, s.stderr);
    }
    const r = await gpumod(['history', '--open'], env);
    assert.equal(r.code, 0, r.stderr);
    const path = r.stdout.trim();
    assert.equal(path, join(state, 'gpumod', 'last-switch.html'));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const html = readFileSync(path, 'utf8');
    const history = JSON.parse((await gpumod(['history', '--json'], env)).stdout) as { to: string; steps: { service: string; action: string; ms: number }[] }[];
    const last = history[history.length - 1];
    assert.equal(last.to, 'down');
    const rows = [...html.matchAll(/<div class="row step[^"]*" data-kind="step" data-index="(\d+)" data-phase="[^"]*" data-service="([^"]*)" data-action="([^"]*)" data-start-ms="\d+" data-ms="(\d+)"/g)];
    assert.deepEqual(
      rows.map((m) => [m[2], m[3], Number(m[4])]),
      last.steps.map((s) => [s.service, s.action, s.ms]),
    );
    assert.ok(rows.some((m) => m[2] === 'plain' && m[3] === 'stop'), html.slice(0, 400));
    assert.match(html, /<h1>up → down<\/h1>/);
    assert.doesNotMatch(html, /<script|https?:\/\/|src=/);
    const json = await gpumod(['history', '--open', '--json'], env);
    assert.deepEqual(JSON.parse(json.stdout), { path });
  });
});
