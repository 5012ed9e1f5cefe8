import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isGpumodError } from '../../../src/errors';
import { unitOfCgroupFile } from '../../../src/system/gpu';
import type { Logger } from '../../../src/engine/logger';
import { createSystemd, type SystemdAdapter } from '../../../src/system/systemd';
import { EXIT_3, IDLE, PRINT_ARGS, SERVER_WITH_CHILD } from '../support/programs';
import { escapeRegExp as esc, installUnit, managerEnv, removeUnit, scratchDir, unitName } from '../support/testManager';
import { waitFor } from '../support/wait';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (m: string | Error): void => void lines.push(String(m));
  return { lines, trace: add, debug: add, info: add, warn: add, error: add };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); its state letter says it is gone.
    return !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('system/systemd against a real user manager', function () {
  this.timeout(30_000);
  const SERVER = unitName('it-server');
  const FAILING = unitName('it-exit3');
  const QUOTED = unitName('it-quoted');
  const TRANSIENT = unitName('it-transient');
  const NOPE = unitName('it-nope');
  let log: ReturnType<typeof recordingLogger>;
  let sd: SystemdAdapter;
  let childPidFile: string;

  before(async () => {
    childPidFile = join(scratchDir(), 'server-child.pid');
    await installUnit(SERVER, { execStart: [process.execPath, '-e', SERVER_WITH_CHILD], env: { CHILD_PID_FILE: childPidFile } });
    await installUnit(FAILING, { execStart: [process.execPath, '-e', EXIT_3] });
  });
  beforeEach(() => {
    log = recordingLogger();
    sd = createSystemd(log, { env: managerEnv() });
  });
  after(async () => {
    for (const u of [SERVER, FAILING, QUOTED]) await removeUnit(u);
    await sd.stop(TRANSIENT).catch(() => undefined);
    rmSync(childPidFile, { force: true });
  });

  it('starts, shows, journals and stops a unit; its child is in its cgroup', async () => {
    rmSync(childPidFile, { force: true });
    await sd.start(SERVER);
    assert.match(log.lines[0], new RegExp(`^> systemctl --user start -- ${esc(SERVER)} \\[\\d+ms\\]$`));
    const s = await sd.show(SERVER);
    assert.equal(s.unit, SERVER);
    assert.equal(s.loadState, 'loaded');
    assert.equal(s.activeState, 'active');
    assert.equal(s.subState, 'running');
    assert.ok(s.mainPid > 0);
    assert.equal(s.result, 'success');
    assert.match(s.controlGroup, new RegExp(`/user@\\d+\\.service/app\\.slice/${esc(SERVER)}$`));
    assert.ok(Math.abs(s.stateChangeUs - Date.now() * 1000) < 10_000_000, `stateChangeUs ${s.stateChangeUs} is about now`);
    assert.equal(await sd.isActive(SERVER), 'active');

    const childPid = await waitFor('the child PID file', () => (existsSync(childPidFile) ? Number(readFileSync(childPidFile, 'utf8')) : undefined));
    assert.notEqual(childPid, s.mainPid);
    const pids = await sd.pids(s);
    assert.ok(pids.includes(s.mainPid), `pids ${pids} include MainPID ${s.mainPid}`);
    assert.ok(pids.includes(childPid), `pids ${pids} include the child ${childPid}`);
    assert.equal(unitOfCgroupFile(readFileSync(`/proc/${childPid}/cgroup`, 'utf8')), SERVER);
    assert.equal(unitOfCgroupFile(readFileSync(`/proc/${s.mainPid}/cgroup`, 'utf8')), SERVER);

    const journal = await waitFor('the journal line', async () => {
      const j = await sd.journal(SERVER, 20);
      return j.includes(`listening on`) && j.includes(`child ${childPid}`) ? j : undefined;
    });
    assert.match(journal, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \S+ node\[\d+\]: listening on \d+ child \d+$/m);

    await sd.stop(SERVER);
    const stopped = await sd.show(SERVER);
    assert.equal(stopped.activeState, 'inactive');
    assert.equal(stopped.subState, 'dead');
    assert.equal(stopped.mainPid, 0);
    assert.equal(await sd.isActive(SERVER), 'inactive');
    assert.deepEqual(await sd.pids(stopped), []);
    await waitFor('the child to be gone', () => (alive(childPid) ? undefined : true));
  });

  it('restarts a unit under a new MainPID', async () => {
    await sd.start(SERVER);
    const before = await sd.show(SERVER);
    await sd.restart(SERVER);
    const after = await sd.show(SERVER);
    assert.equal(after.activeState, 'active');
    assert.notEqual(after.mainPid, before.mainPid);
    await sd.stop(SERVER);
  });

  it('shows a unit whose process exited 3 as failed with exit-code 3', async () => {
    await sd.start(FAILING); // Type=simple: the start job succeeds, the process fails after
    const s = await waitFor('the unit to fail', async () => {
      const st = await sd.show(FAILING);
      return st.activeState === 'failed' ? st : undefined;
    });
    assert.equal(s.subState, 'failed');
    assert.equal(s.result, 'exit-code');
    assert.equal(s.execMainStatus, 3);
    assert.equal(s.mainPid, 0);
    assert.equal(await sd.isActive(FAILING), 'failed');
    const journal = await waitFor('the journal line', async () => ((await sd.journal(FAILING, 5)).includes('giving up') ? true : undefined));
    assert.ok(journal);
  });

  it('shows an unknown unit as not-found', async () => {
    const s = await sd.show(NOPE);
    assert.equal(s.loadState, 'not-found');
    assert.equal(s.activeState, 'inactive');
    assert.equal(s.subState, 'dead');
    assert.equal(s.mainPid, 0);
    assert.equal(s.controlGroup, '');
    assert.deepEqual(await sd.pids(s), []);
    assert.equal(await sd.isActive(NOPE), 'inactive');
    assert.equal(await sd.journal(NOPE, 10), '');
  });

  it('fails to start an unknown unit with PROCESS_FAILED, rc 5 and systemctl’s message', async () => {
    await assert.rejects(sd.start(NOPE), (e: unknown) => {
      assert.ok(isGpumodError(e, 'PROCESS_FAILED'));
      assert.match(e.message, new RegExp(`exited 5: Failed to start ${esc(NOPE)}: Unit ${esc(NOPE)} not found\\.`));
      return true;
    });
    assert.match(log.lines[0], new RegExp(`^> systemctl --user start -- ${esc(NOPE)} \\[\\d+ms\\] exit 5$`));
  });

  it('refuses an invalid unit name before running anything', async () => {
    await assert.rejects(sd.start('--now.service'), (e: unknown) => isGpumodError(e, 'CONFIG_INVALID'));
    await assert.rejects(sd.show('../x.service'), (e: unknown) => isGpumodError(e, 'CONFIG_INVALID'));
    assert.deepEqual(log.lines, []);
  });

  it('passes ExecStart arguments and Environment values through unchanged', async () => {
    const args = ['--', 'two words', '$HOME and ${PATH}', '100%', 'say "hi"', 'back\\slash', "it's", ';', 'tab\there'];
    await installUnit(QUOTED, { execStart: [process.execPath, '-e', PRINT_ARGS, ...args], env: { GREETING: 'hello "world" $USER 50%' } });
    await sd.start(QUOTED);
    const line = await waitFor('the ARGS line', async () => (await sd.journal(QUOTED, 5)).split('\n').find((l) => l.includes('ARGS ')));
    const printed = JSON.parse(line.slice(line.indexOf('ARGS ') + 5)) as { argv: string[]; greeting: string };
    assert.deepEqual(printed.argv, args.slice(1));
    assert.equal(printed.greeting, 'hello "world" $USER 50%');
    await sd.stop(QUOTED);
  });

  it('runs a transient unit with systemd-run', async () => {
    await sd.runTransient(TRANSIENT, [process.execPath, '-e', IDLE], { Description: 'gpumod transient test' });
    assert.match(log.lines[0], new RegExp(`^> systemd-run --user --unit=${esc(TRANSIENT)} -p 'Description=gpumod transient test' -- \\S+ -e `));
    const s = await sd.show(TRANSIENT);
    assert.equal(s.activeState, 'active');
    assert.ok(s.mainPid > 0);
    await sd.stop(TRANSIENT);
    assert.equal((await sd.show(TRANSIENT)).activeState, 'inactive');
  });
});
