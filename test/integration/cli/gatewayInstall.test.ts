// `gpumod gateway install` under the real user manager: the unit is written where the manager reads
// the user's units, enabled and started; killed with SIGKILL it is restarted and answers again.
import * as assert from 'node:assert/strict';
import { rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { GATEWAY_UNIT } from '../../../src/cli/gatewayInstall';
import { gpumod } from './runCli';
import { managerEnv, managerSystemd, scratchDir, testPort } from '../support/testManager';
import { waitFor } from '../support/wait';

const PORT = testPort(1189);

function models(): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port: PORT, path: '/v1/models' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(undefined));
    req.setTimeout(5000, () => req.destroy());
  });
}

describe('cli: gpumod gateway install (real user manager)', function () {
  this.timeout(120_000);
  const dir = join(scratchDir(), 'gateway-install');
  const systemd = managerSystemd();
  let env: Record<string, string>;
  let unitFile: string;

  before(async () => {
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'gpumod.yaml');
    writeFileSync(config, `gateway: { port: ${PORT} }\nservices:\n  s: { driver: systemd, unit: gpumod-test-never.service, port: ${testPort(1187)}, vram_mb: 100 }\nmodes: {}\n`);
    const manager = await systemd.managerEnvironment({ timeoutMs: 10_000 });
    env = { ...managerEnv(), GPUMOD_CONFIG: config, GPUMOD_NVIDIA_SMI: join(dir, 'no-nvidia-smi'), XDG_STATE_HOME: join(dir, 'state'), XDG_CONFIG_HOME: manager.XDG_CONFIG_HOME };
    unitFile = join(manager.XDG_CONFIG_HOME, 'systemd/user', GATEWAY_UNIT);
  });

  after(async () => {
    await systemd.stop(GATEWAY_UNIT, { timeoutMs: 30_000 }).catch(() => undefined);
    rmSync(unitFile, { force: true });
    rmSync(join(unitFile, '..', 'default.target.wants', GATEWAY_UNIT), { force: true });
    await systemd.daemonReload({ timeoutMs: 30_000 });
  });

  it('--print shows the unit and writes nothing', async () => {
    const r = await gpumod(['gateway', 'install', '--print'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ExecStart=".*node.*" ".*cli\.js" "gateway" "--config" ".*gpumod\.yaml"$/m);
    assert.match(r.stdout, /^Restart=on-failure$/m);
    assert.match(r.stdout, /^WantedBy=default\.target$/m);
    const port = await gpumod(['gateway', 'install', '--print', '--port', '7123'], env);
    assert.equal(port.code, 0, port.stderr);
    assert.match(port.stdout, /^ExecStart=.* "gateway" "--config" ".*gpumod\.yaml" "--port" "7123"$/m);
    const bad = await gpumod(['gateway', '--port', 'seventy'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port takes a port number/);
  });

  it('installs, enables and starts the gateway; killed, systemd starts it again', async () => {
    const r = await gpumod(['gateway', 'install'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`clients use http://127\\.0\\.0\\.1:${PORT}/v1`));
    assert.match(readFileSync(unitFile, 'utf8'), /gateway/);
    await waitFor('the gateway to answer', async () => ((await models()) === 200 ? true : undefined), 30_000);
    const first = await systemd.show(GATEWAY_UNIT, { timeoutMs: 10_000 });
    assert.equal(first.activeState, 'active');
    process.kill(first.mainPid, 'SIGKILL');
    await waitFor('systemd to restart it', async () => {
      const now = await systemd.show(GATEWAY_UNIT, { timeoutMs: 10_000 });
      return now.activeState === 'active' && now.mainPid !== first.mainPid && now.mainPid > 0 ? true : undefined;
    }, 30_000);
    await waitFor('the restarted gateway to answer', async () => ((await models()) === 200 ? true : undefined), 30_000);
  });
});
