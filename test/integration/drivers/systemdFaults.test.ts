// Faults on the systemd side of every driver, against the real systemd user manager: a unit whose
// ExecStart does not exist, and a server that does not exit on SIGTERM (the unit's stop timeout).
import * as assert from 'node:assert/strict';
import { driverFor } from '../../../src/drivers/registry';
import { fakeProcessesOn, rejectsWith, Rig, scaled, servicesFromYaml } from './support';
import { testPort, unitName } from '../support/testManager';

const P = { missing: testPort(510), stubborn: testPort(511) };
const U = { missing: unitName('it-drv-sd-missing'), stubborn: unitName('it-drv-sd-stubborn') };
const svcs = servicesFromYaml(`
services:
  missing:  { driver: vllm, unit: ${U.missing}, port: ${P.missing}, vram_mb: 7000, sleep: l1 }
  stubborn: { driver: systemd, unit: ${U.stubborn}, port: ${P.stubborn}, vram_mb: 2000, stop_timeout_s: 1 }
modes: {}
`);
const missing = svcs.get('missing')!;
const stubborn = svcs.get('stubborn')!;
const NOT_EXECUTED = /^unit failed: exit-code, exit status 203$/; // systemd's EXIT_EXEC

describe('systemd faults under the drivers (real systemd user manager)', function () {
  this.timeout(60_000);
  let rig: Rig;

  before(async () => {
    rig = new Rig(Object.values(P));
    await rig.checkPortsFree();
  });
  afterEach(() => rig.cleanup());
  after(async () => {
    await rig.dispose();
  });

  it('ExecStart of a missing file: Type=exec start rejects PROCESS_FAILED; Type=simple starts and is observed failed (203)', async () => {
    const execStart = ['/nonexistent/gpumod-test/vllm', 'serve', '--port', String(P.missing)];
    await rig.install(U.missing, { execStart, type: 'exec' });
    await rejectsWith(() => rig.systemd.start(U.missing), 'PROCESS_FAILED', new RegExp(`systemctl --user start -- ${U.missing.replace(/\./g, '\\.')} exited 1: Job for ${U.missing.replace(/\./g, '\\.')} failed`));
    await rig.expectObserved(missing, { state: 'failed', healthy: false, detail: NOT_EXECUTED, vramMb: 0 });

    await rig.install(U.missing, { execStart, type: 'simple' });
    await rig.systemd.resetFailed(U.missing);
    await rig.expectObserved(missing, { state: 'stopped', healthy: false });
    await rig.systemd.start(U.missing); // forking succeeded: the exec fails after the job is done
    await rig.awaitObserved(missing, { state: 'failed', healthy: false, detail: NOT_EXECUTED, vramMb: 0 });
    await rejectsWith(() => driverFor(missing).awaitReady(missing, rig.ctx(), 300), 'DEADLINE');
  });

  it('a server ignoring SIGTERM: stopping while the stop job runs; killed at TimeoutStopSec, not later', async () => {
    // The fake takes 20 s to exit after SIGTERM; the unit allows 1 s.
    await rig.runFake(U.stubborn, 'plainServer', P.stubborn, ['--vram-mb', '2000', '--startup-ms', scaled(100), '--stop-ms', scaled(20_000)], { TimeoutStopSec: '1' });
    await driverFor(stubborn).awaitReady(stubborn, rig.ctx(), 10_000);
    await rig.expectObserved(stubborn, { state: 'running', healthy: true, vramMb: 2000 });

    const t0 = Date.now();
    // A caller's deadline shorter than the unit's stop timeout: the adapter gives up, the job goes on.
    await rejectsWith(() => rig.systemd.stop(U.stubborn, { timeoutMs: 300 }), 'PROCESS_TIMEOUT', /did not finish within 300 ms/);
    await rig.expectObserved(stubborn, { state: 'stopping', healthy: false });
    await rig.systemd.stop(U.stubborn, { timeoutMs: 10_000 }); // joins the running stop job
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 5000, `the stop took ${took} ms; TimeoutStopSec=1 then SIGKILL`);
    const o = await rig.awaitObserved(stubborn, { state: 'failed', healthy: false, detail: /^unit failed: timeout/ });
    assert.equal(o.unit?.result, 'timeout');
    assert.deepEqual(fakeProcessesOn([P.stubborn]), [], 'the server was killed');
  });
});
