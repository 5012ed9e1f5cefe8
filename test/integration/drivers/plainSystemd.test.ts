// The plain systemd driver (start/stop only, health tells whether it serves) against the fake plain
// server run as a unit of the real systemd user manager, and a unit whose process exits 3.
import * as assert from 'node:assert/strict';
import { driverFor } from '../../../src/drivers/registry';
import { EXIT_3 } from '../support/programs';
import { rejectsWith, Rig, scaled, servicesFromYaml } from './support';
import { testPort, unitName } from '../support/testManager';

const P = { tts: testPort(410), quitter: testPort(411) };
const U = { tts: unitName('it-drv-plain'), quitter: unitName('it-drv-plain-exit3') };
const svcs = servicesFromYaml(`
services:
  tts:     { driver: systemd, unit: ${U.tts}, port: ${P.tts}, vram_mb: 3000 }
  quitter: { driver: systemd, unit: ${U.quitter}, port: ${P.quitter}, vram_mb: 1000 }
  web:     { driver: http, unit: ${U.tts}, port: ${P.tts}, vram_mb: 3000 }
modes: {}
`);
const tts = svcs.get('tts')!;
const quitter = svcs.get('quitter')!;
// The same server as an `http` service without hooks: one rule for a health-only probe.
const web = svcs.get('web')!;

describe('drivers/plainSystemd against the fake plain server under the real systemd user manager', function () {
  this.timeout(60_000);
  const drv = driverFor(tts);
  let rig: Rig;

  before(async () => {
    rig = new Rig(Object.values(P));
    await rig.checkPortsFree();
  });
  afterEach(() => rig.cleanup());
  after(async () => {
    await rig.dispose();
  });

  it('start → starting → awaitReady (health) → running with its memory; stop → stopped, memory freed', async () => {
    assert.equal(drv.kind, 'systemd');
    assert.deepEqual(drv.capabilities(tts), { sleepLevels: [], canWake: false, canDrain: false });
    await rig.runFake(U.tts, 'plainServer', P.tts, ['--vram-mb', '3000', '--startup-ms', scaled(600)]);
    await rig.expectObserved(tts, { state: 'starting', healthy: false });
    await drv.awaitReady(tts, rig.ctx(), 10_000);
    assert.ok(rig.http.take().every((c) => c === 'GET /health'));
    await rig.expectObserved(tts, { state: 'running', healthy: true, vramMb: 3000 });
    await rejectsWith(() => drv.sleep(tts, 'l1', rig.ctx()), 'USAGE', /cannot sleep; stop it instead/);
    await rejectsWith(() => drv.wake(tts, rig.ctx()), 'USAGE', /cannot wake; start it instead/);

    await rig.systemd.stop(U.tts);
    const o = await rig.awaitObserved(tts, { state: 'stopped', healthy: false, vramMb: 0 }, 5000);
    assert.equal(o.detail, undefined, 'a clean stop has nothing to explain');
  });

  it('faults on /health: a dead engine runs but is unhealthy (plain and hook-less http alike), a crash fails the unit', async () => {
    await rig.runFake(U.tts, 'plainServer', P.tts, ['--vram-mb', '3000', '--startup-ms', scaled(100)]);
    await drv.awaitReady(tts, rig.ctx(), 10_000);
    // It answers 503: up, so running, but not healthy (and awaitReady keeps waiting for a 2xx).
    await rig.fault(P.tts, { endpoint: '/health', kind: 'engine-dead' });
    await rig.expectObserved(tts, { state: 'running', healthy: false, detail: /\/health answered 503/, vramMb: 3000 });
    await rig.expectObserved(web, { state: 'running', healthy: false, detail: /\/health answered 503/, vramMb: 3000 });
    await rejectsWith(() => drv.awaitReady(tts, rig.ctx(), 300), 'DEADLINE', /last seen: HTTP 503/);
    await rig.clearFaults(P.tts);
    await rig.expectObserved(tts, { state: 'running', healthy: true });
    await rig.expectObserved(web, { state: 'running', healthy: true });

    await rig.fault(P.tts, { endpoint: '/health', kind: 'crash' });
    await rig.expectObserved(tts, { state: 'starting', healthy: false }); // the probe that killed it saw nothing
    await rig.awaitObserved(tts, { state: 'failed', healthy: false, detail: /^unit failed: exit-code, exit status 1$/, vramMb: 0 });
  });

  it('a unit whose process exits 3 is observed failed with the exit code; awaitReady gives up at its deadline', async () => {
    await rig.install(U.quitter, { execStart: [process.execPath, '-e', EXIT_3] });
    await rig.systemd.start(U.quitter); // Type=simple: the start job succeeds, the process fails after
    const o = await rig.awaitObserved(quitter, { state: 'failed', healthy: false, detail: /^unit failed: exit-code, exit status 3$/ });
    assert.equal(o.unit?.result, 'exit-code');
    assert.equal(o.unit?.execMainStatus, 3);
    await rejectsWith(() => drv.awaitReady(quitter, rig.ctx(), 300), 'DEADLINE', /quitter: waiting for \/health: .*last seen: not listening yet/);
  });
});
