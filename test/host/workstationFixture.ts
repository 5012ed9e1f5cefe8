// Brings up the demo workstation (eight fakes as units of a sandboxed systemd user manager, fake
// nvidia-smi) for the host and UI tests, prints one JSON line {"env": …} with what the VS Code server
// must pass to the extension, and tears everything down when its stdin closes or on SIGTERM/SIGINT.
// Usage: node out/test/host/workstationFixture.js [--card 32|24] [--time-scale N] [--port-base N]
import { join } from 'node:path';
import { bringUp } from '../../demo/workstation';
import { silentLogger } from '../../src/system/logger';
import { fixtureArg, runFixture } from './_fixtureProcess';

runFixture(async ({ dir, env }, onTeardown) => {
  const ws = await bringUp({
    dir: join(dir, 'workstation'),
    managerEnv: env,
    unitDir: join(env.XDG_CONFIG_HOME, 'systemd/user'),
    timeScale: Number(fixtureArg('time-scale', '50')),
    card: fixtureArg('card', '32') === '24' ? '24' : '32',
    portBase: Number(fixtureArg('port-base', '19800')),
    log: silentLogger,
  });
  onTeardown(() => ws.teardown());
  return { env: ws.env, configPath: ws.configPath };
});
