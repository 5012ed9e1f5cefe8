// Not a test of the tier itself: a run that test/integration/support/leftovers.test.ts starts inside
// the tier (`mocha --require setup.js run.nested.js`), leaving behind on purpose what careless tests
// would: a running unit with a child process, a failed unit, a drop-in folder. The run's own clean-up
// must remove all of it, also when the run is interrupted (NESTED_HOLD=1 waits to be killed).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_3, SERVER_WITH_CHILD } from './programs';
import { installUnit, managerSystemd, RUN_VAR, scratchDir, unitName, unitPath } from './testManager';
import { waitFor } from './wait';

describe('a nested run that leaves things behind', function () {
  this.timeout(120_000);

  it('starts units and does not clean up', async () => {
    const server = unitName('nested-server');
    const failing = unitName('nested-failing');
    const pidFile = join(scratchDir(), 'child.pid');
    await installUnit(server, { execStart: [process.execPath, '-e', SERVER_WITH_CHILD], env: { CHILD_PID_FILE: pidFile } });
    await installUnit(failing, { execStart: [process.execPath, '-e', EXIT_3] });
    mkdirSync(`${unitPath(server)}.d`);
    writeFileSync(join(`${unitPath(server)}.d`, 'override.conf'), '[Service]\nEnvironment=NESTED=1\n');
    const sd = managerSystemd();
    await sd.daemonReload({ timeoutMs: 15_000 });
    await sd.start(server, { timeoutMs: 15_000 });
    await sd.start(failing, { timeoutMs: 15_000 }).catch(() => undefined);
    const child = await waitFor('the child PID', () => readFileSync(pidFile, 'utf8').trim() || undefined, 15_000).catch(() => '');
    process.stdout.write(`NESTED-READY run=${process.env[RUN_VAR]} scratch=${scratchDir()} child=${child}\n`);
    if (process.env.NESTED_HOLD === '1') await new Promise((resolve) => setTimeout(resolve, 100_000));
  });
});
