// `gpumod logs SERVICE [--json]` against a real unit's journal.
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../support/wait';
import { installUnit, managerEnv, managerSystemd, removeUnit, scratchDir, testPort, unitName } from '../support/testManager';
import { gpumod } from './runCli';

// Says hello on stdout, complains on stderr with a syslog prefix (journald reads <3> as "err"), idles.
const TALKER = `console.log('hello from the talker'); console.error('<3>something broke'); setInterval(() => {}, 1000);`;

interface Entry {
  timestamp: string;
  priority: number;
  message: string;
}

describe('gpumod logs (the CLI as a process, a unit of the real user manager)', function () {
  this.timeout(60_000);
  const UNIT = unitName('cli-logs');
  let env: Record<string, string>;

  before(async () => {
    await installUnit(UNIT, { execStart: [process.execPath, '-e', TALKER] });
    await managerSystemd().start(UNIT, { timeoutMs: 15_000 });
    const config = join(scratchDir(), 'logs.yaml');
    writeFileSync(config, `services:\n  talker: { driver: systemd, unit: ${UNIT}, port: ${testPort(1100)}, vram_mb: 0 }\nmodes: {}\n`);
    env = { ...managerEnv(), GPUMOD_CONFIG: config };
    await waitFor('both lines in the journal', async () => {
      const r = await gpumod(['logs', 'talker'], env);
      return r.stdout.includes('something broke') && r.stdout.includes('hello from the talker') ? true : undefined;
    });
  });

  after(async () => {
    await removeUnit(UNIT);
  });

  it('prints the journal as text', async () => {
    const r = await gpumod(['logs', 'talker'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d{4}-\d\d-\d\dT\S+ \S+ node\[\d+\]: hello from the talker$/m);
  });

  it('prints the entries as JSON with timestamp, priority and message', async () => {
    const r = await gpumod(['logs', 'talker', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { service: string; unit: string; entries: Entry[] };
    assert.equal(out.service, 'talker');
    assert.equal(out.unit, UNIT);
    const hello = out.entries.find((e) => e.message === 'hello from the talker');
    const broke = out.entries.find((e) => e.message === 'something broke');
    assert.ok(hello && broke, JSON.stringify(out.entries));
    assert.equal(hello.priority, 6);
    assert.equal(broke.priority, 3);
    for (const e of out.entries) {
      assert.match(e.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Math.abs(Date.parse(e.timestamp) - Date.now()) < 10 * 60_000, `timestamp ${e.timestamp} is not from this run`);
    }
  });

  it('takes --lines with --json', async () => {
    const r = await gpumod(['logs', 'talker', '--json', '--lines', '1'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { entries: Entry[] }).entries.length, 1);
  });
});
