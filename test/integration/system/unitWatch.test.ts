import * as assert from 'node:assert/strict';
import type { UnitLook, UnitStatus } from '../../../src/engine/machinePorts';
import { createSystemd, type SystemdAdapter } from '../../../src/system/systemd';
import { IDLE } from '../support/programs';
import { recordingLogger } from '../support/recordingLogger';
import { installUnit, managerEnv, managerSystemd, removeUnit, unitName } from '../support/testManager';
import { waitFor } from '../support/wait';

function value(look: UnitLook): UnitStatus {
  if (look.status === 'rejected') throw new Error(`expected a status, got ${String(look.reason)}`);
  return look.value;
}

const shows = (log: { lines: string[] }): number => log.lines.filter((l) => l.startsWith('> systemctl --user show')).length;

/** As systemctl alone says, but for the state-change time, converted against each call's clocks. */
function assertSame(watched: UnitStatus, plain: UnitStatus): void {
  const { stateChangeUs: a, ...restA } = watched;
  const { stateChangeUs: b, ...restB } = plain;
  assert.deepEqual(restA, restB);
  assert.ok(Math.abs(a - b) < 50_000, `${watched.unit}: stateChangeUs ${a} vs ${b}`);
}

describe('system/unitWatch: the user manager followed over D-Bus', function () {
  this.timeout(60_000);
  const RUNNING = unitName('watch-running');
  const STOPPED = unitName('watch-stopped');
  const MISSING = unitName('watch-missing');
  const units = [RUNNING, STOPPED, MISSING];
  let log: ReturnType<typeof recordingLogger>;
  let sd: SystemdAdapter;
  const plain = managerSystemd();

  before(async () => {
    await installUnit(RUNNING, { execStart: [process.execPath, '-e', IDLE] });
    await installUnit(STOPPED, { execStart: [process.execPath, '-e', IDLE] });
    await plain.start(RUNNING);
  });
  beforeEach(() => {
    log = recordingLogger();
    sd = createSystemd(log, { env: managerEnv(), watch: true });
  });
  afterEach(() => sd.close());
  after(async () => {
    for (const u of [RUNNING, STOPPED]) await removeUnit(u);
  });

  /** Until a look of `units` needs no systemctl: connected, subscribed, and the units shown once. */
  const settled = (): Promise<true> =>
    waitFor('a look without systemctl', async () => {
      const n = shows(log);
      await sd.showMany(units);
      return shows(log) === n ? true : undefined;
    });

  it('once connected, shows the units once; unchanged, they are not shown again, and say what systemctl says', async () => {
    const first = (await sd.showMany(units)).map(value);
    assert.equal(shows(log), 1, 'the first look does not wait for the bus');
    // The connection is made in the background; from then on a look asks the manager over the bus.
    await settled();
    const n = shows(log);
    assert.ok(n <= 3, `${n} systemctl runs before the bus answered`);
    const again = (await sd.showMany(units)).map(value);
    const single = await sd.show(RUNNING);
    assert.equal(shows(log), n, log.lines.join('\n'));
    const truth = (await plain.showMany(units)).map(value);
    units.forEach((_, i) => {
      assertSame(first[i], truth[i]);
      assertSame(again[i], truth[i]);
    });
    assertSame(single, truth[0]);
    assert.ok(truth[0].mainPid > 0 && truth[0].activeState === 'active');
  });

  it('a restart by another client (same states, a new main PID) is shown again, as are a start and a stop', async () => {
    await settled();
    const before = value((await sd.showMany([RUNNING]))[0]);
    await plain.restart(RUNNING);
    const after = value((await sd.showMany([RUNNING]))[0]);
    assert.notEqual(after.mainPid, before.mainPid, 'the restarted unit is seen with its new process');
    assertSame(after, await plain.show(RUNNING));

    assert.equal(value((await sd.showMany([STOPPED]))[0]).activeState, 'inactive');
    await plain.start(STOPPED);
    const started = value((await sd.showMany([STOPPED]))[0]);
    assert.equal(started.activeState, 'active');
    assertSame(started, await plain.show(STOPPED));
    await plain.stop(STOPPED);
    const stopped = value((await sd.showMany([STOPPED]))[0]);
    assert.deepEqual([stopped.activeState, stopped.mainPid], ['inactive', 0]);
  });

  it('a daemon-reload makes every unit shown again', async () => {
    await settled();
    const n = shows(log);
    await plain.daemonReload();
    await sd.showMany(units);
    assert.equal(shows(log), n + 1);
  });

  it('without a usable bus, systemctl answers every time and nothing breaks', async () => {
    const noBus = recordingLogger();
    const broken = createSystemd(noBus, { env: { ...managerEnv(), DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/gpumod-test-bus' }, watch: true });
    try {
      const a = (await broken.showMany(units)).map(value);
      const b = (await broken.showMany(units)).map(value);
      assert.equal(noBus.lines.filter((l) => l.startsWith('> systemctl --user show')).length, 2);
      assert.equal(a[0].activeState, 'active');
      assertSame(b[0], a[0]);
    } finally {
      broken.close();
    }
  });
});
