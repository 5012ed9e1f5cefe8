import * as assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import type { UnitLook, UnitStatus } from '../../../src/engine/machinePorts';
import { isGpumodError } from '../../../src/errors';
import { createSystemd, type SystemdAdapter } from '../../../src/system/systemd';
import { EXIT_3, IDLE } from '../support/programs';
import { recordingLogger } from '../support/recordingLogger';
import { escapeRegExp as esc, installUnit, managerEnv, managerSystemd, removeUnit, unitName, unitPath } from '../support/testManager';
import { waitFor } from '../support/wait';

/** The `systemctl` processes a logger saw run (one `> systemctl …` line each). */
function systemctlRuns(log: { lines: string[] }): string[] {
  return log.lines.filter((l) => l.startsWith('> systemctl '));
}

function value(look: UnitLook): UnitStatus {
  if (look.status === 'rejected') throw new Error(`expected a status, got ${String(look.reason)}`);
  return look.value;
}

/** Field by field; the state-change time is converted against the clocks of each call, so it may move by a few ms. */
function assertSameStatus(batched: UnitStatus, alone: UnitStatus): void {
  const { stateChangeUs: a, ...restA } = batched;
  const { stateChangeUs: b, ...restB } = alone;
  assert.deepEqual(restA, restB);
  assert.ok(Math.abs(a - b) < 50_000, `${batched.unit}: stateChangeUs ${a} vs ${b}`);
  assert.equal(a === 0, b === 0);
}

describe('system/systemd showMany against a real user manager', function () {
  this.timeout(60_000);
  const RUNNING = unitName('many-running');
  const FAILED = unitName('many-failed');
  const MISSING = unitName('many-missing');
  const ALIAS = unitName('many-alias');
  // A template without an instance: a valid name to gpumod, one the manager refuses to show.
  const TEMPLATE = unitName('many-template@');
  let log: ReturnType<typeof recordingLogger>;
  let sd: SystemdAdapter;

  before(async () => {
    await installUnit(RUNNING, { execStart: [process.execPath, '-e', IDLE] });
    await installUnit(FAILED, { execStart: [process.execPath, '-e', EXIT_3] });
    const m = managerSystemd();
    await m.start(RUNNING);
    await m.start(FAILED); // Type=simple: the start job succeeds, the process exits 3 after
    await waitFor('the unit to fail', async () => ((await m.show(FAILED)).activeState === 'failed' ? true : undefined));
  });
  beforeEach(() => {
    log = recordingLogger();
    sd = createSystemd(log, { env: managerEnv() });
  });
  after(async () => {
    await removeUnit(ALIAS);
    for (const u of [RUNNING, FAILED]) await removeUnit(u);
  });

  it('a running, a failed and a not-found unit in one systemctl call, each as `show` alone says', async () => {
    const looks = await sd.showMany([RUNNING, FAILED, MISSING]);
    assert.equal(systemctlRuns(log).length, 1, systemctlRuns(log).join('\n'));
    assert.match(systemctlRuns(log)[0], new RegExp(`^> systemctl --user show -p Id,Names,\\S+ -- ${esc(RUNNING)} ${esc(FAILED)} ${esc(MISSING)} \\[\\d+ms\\]$`));
    const [running, failed, missing] = looks.map(value);
    assert.deepEqual([running.unit, running.loadState, running.activeState, running.subState], [RUNNING, 'loaded', 'active', 'running']);
    assert.ok(running.mainPid > 0);
    assert.deepEqual([failed.unit, failed.activeState, failed.result, failed.execMainStatus, failed.mainPid], [FAILED, 'failed', 'exit-code', 3, 0]);
    assert.deepEqual([missing.unit, missing.loadState, missing.activeState, missing.mainPid], [MISSING, 'not-found', 'inactive', 0]);

    const alone = await Promise.all([RUNNING, FAILED, MISSING].map((u) => sd.show(u)));
    for (let i = 0; i < 3; i++) assertSameStatus(value(looks[i]), alone[i]);
    // The order asked is the order answered, whatever it is.
    const reversed = (await sd.showMany([MISSING, FAILED, RUNNING])).map(value);
    assert.deepEqual(reversed.map((s) => s.unit), [MISSING, FAILED, RUNNING]);
    assertSameStatus(reversed[2], alone[0]);
  });

  it('a name the manager rejects costs the others nothing: it gets the error `show` alone gives', async () => {
    const looks = await sd.showMany([RUNNING, TEMPLATE, FAILED, MISSING]);
    const [running, rejected, failed, missing] = looks;
    assert.equal(value(running).activeState, 'active');
    assert.equal(value(failed).activeState, 'failed');
    assert.equal(value(missing).loadState, 'not-found');
    assert.equal(rejected.status, 'rejected');
    const alone = await sd.show(TEMPLATE).then(
      () => assert.fail('the manager showed a template without an instance'),
      (e: unknown) => e,
    );
    assert.ok(isGpumodError(alone, 'PROCESS_FAILED'));
    assert.ok(rejected.status === 'rejected' && isGpumodError(rejected.reason, 'PROCESS_FAILED'));
    assert.equal(rejected.reason.message, alone.message);
    assert.match(alone.message, /exited 1: Failed to get properties: Unit name \S+ is neither a valid invocation ID nor unit name/);
    // One batch (the manager stops at the rejected name), then only the names it did not answer, alone.
    const runs = systemctlRuns(log);
    assert.match(runs[0], new RegExp(`-- ${esc(RUNNING)} ${esc(TEMPLATE)} ${esc(FAILED)} ${esc(MISSING)} \\[\\d+ms\\] exit 1$`));
    const retried = runs.slice(1, -1).map((l) => /-- (\S+) \[/.exec(l)?.[1]);
    assert.deepEqual(retried.sort(), [FAILED, MISSING, TEMPLATE].sort());
  });

  it('a name gpumod refuses is refused without a process; the others still take one call', async () => {
    const looks = await sd.showMany([RUNNING, '../x.service', MISSING, RUNNING]);
    assert.equal(systemctlRuns(log).length, 1);
    assert.match(systemctlRuns(log)[0], new RegExp(`-- ${esc(RUNNING)} ${esc(MISSING)} \\[`), 'a unit asked twice is asked once');
    assert.ok(looks[1].status === 'rejected' && isGpumodError(looks[1].reason, 'CONFIG_INVALID'));
    assert.deepEqual([value(looks[0]).activeState, value(looks[2]).loadState, value(looks[3]).mainPid], ['active', 'not-found', value(looks[0]).mainPid]);
  });

  it('an alias is answered under the name asked (the manager shows the unit it names)', async () => {
    symlinkSync(unitPath(RUNNING), unitPath(ALIAS));
    await managerSystemd().daemonReload({ timeoutMs: 15_000 });
    const [alias, running] = (await sd.showMany([ALIAS, RUNNING])).map(value);
    assert.equal(systemctlRuns(log).filter((l) => / show /.test(l)).length, 1, systemctlRuns(log).join('\n'));
    assert.equal(alias.unit, ALIAS);
    assert.equal(alias.activeState, 'active');
    assert.equal(alias.mainPid, running.mainPid);
    assertSameStatus(alias, await sd.show(ALIAS));
  });
});
