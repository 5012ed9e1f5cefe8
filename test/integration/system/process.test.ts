import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGpumodError } from '../../../src/errors';
import type { Logger } from '../../../src/engine/logger';
import { isNotFound, KILL_GRACE_MS, resolveBinary, runProcess } from '../../../src/system/process';
import { alive, hangingScript, pidsIn } from '../support/hangingScript';
import { waitFor } from '../support/wait';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (m: string | Error): void => void lines.push(String(m));
  return { lines, trace: add, debug: add, info: add, warn: add, error: add };
}

describe('system/process runProcess', function () {
  this.timeout(20_000);
  const node = process.execPath;
  let log: ReturnType<typeof recordingLogger>;
  let dir: string;
  beforeEach(() => {
    log = recordingLogger();
    dir = mkdtempSync(join(tmpdir(), 'gpumod-proc-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('returns stdout, stderr, the exit code and the time, and logs the command', async () => {
    const r = await runProcess(node, ['-e', 'process.stdout.write("out\\n"); process.stderr.write("err")'], { timeoutMs: 10_000 }, log);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err');
    assert.equal(r.exitCode, 0);
    assert.ok(r.ms >= 0);
    assert.match(log.lines[0], /^> node -e 'process\.stdout\.write\("out\\n"\); process\.stderr\.write\("err"\)' \[\d+ms\]$/);
  });

  it('throws PROCESS_FAILED with stderr on a non-zero exit, or returns it with reject:false', async () => {
    await assert.rejects(runProcess(node, ['-e', 'console.error("Unit nope.service not found."); process.exit(5)'], { timeoutMs: 10_000 }, log), (e: unknown) => {
      assert.ok(isGpumodError(e, 'PROCESS_FAILED'));
      assert.match(e.message, /exited 5: Unit nope\.service not found\.$/);
      return true;
    });
    assert.match(log.lines[0], /\[\d+ms\] exit 5$/);
    const r = await runProcess(node, ['-e', 'process.exit(3)'], { timeoutMs: 10_000, reject: false }, log);
    assert.equal(r.exitCode, 3);
  });

  it('kills the child at the deadline (PROCESS_TIMEOUT)', async () => {
    const pidFile = join(dir, 'pid');
    const t0 = Date.now();
    await assert.rejects(
      runProcess(node, ['-e', `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`], { timeoutMs: 500 }, log),
      (e: unknown) => isGpumodError(e, 'PROCESS_TIMEOUT'),
    );
    assert.ok(Date.now() - t0 < 3000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor('the child to be gone', () => (alive(pid) ? undefined : true), 3000);
  });

  it('kills a child that ignores SIGTERM, after the grace period', async () => {
    const pidFile = join(dir, 'pid');
    const t0 = Date.now();
    await assert.rejects(
      runProcess(node, ['-e', `process.on('SIGTERM', () => {}); require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`], { timeoutMs: 300 }, log),
      (e: unknown) => isGpumodError(e, 'PROCESS_TIMEOUT'),
    );
    assert.ok(Date.now() - t0 < 5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor('the child to be gone', () => (alive(pid) ? undefined : true), KILL_GRACE_MS + 1000);
  });

  for (const exitEarly of [false, true]) {
    it(`ends the whole group at the deadline, though grandchildren hold the pipes${exitEarly ? ' after the child exited' : ''} and one ignores SIGTERM`, async () => {
      const pids = join(dir, 'pids');
      const timeoutMs = 700;
      const t0 = Date.now();
      await assert.rejects(runProcess(hangingScript(dir, pids, { exitEarly }), [], { timeoutMs }, log), (e: unknown) => isGpumodError(e, 'PROCESS_TIMEOUT'));
      const took = Date.now() - t0;
      assert.ok(took < timeoutMs + 1000, `runProcess returned after ${took} ms: it must not wait for the pipes`);
      assert.equal(pidsIn(pids).length, 4, readFileSync(pids, 'utf8'));
      await waitFor('every process of the group to be gone (the deaf one after the grace period)', () => (pidsIn(pids).some(alive) ? undefined : true), KILL_GRACE_MS + 1000);
      assert.match(log.lines[0], /^> hang\.sh \[\d+ms\] timed out$/);
    });
  }

  it('cancels the whole group on the AbortSignal', async () => {
    const pids = join(dir, 'pids');
    const ctrl = new AbortController();
    const run = runProcess(hangingScript(dir, pids), [], { timeoutMs: 30_000, signal: ctrl.signal }, log);
    await waitFor('the wrapper to start its children', () => (pidsIn(pids).length === 4 ? true : undefined));
    const t0 = Date.now();
    ctrl.abort();
    await assert.rejects(run, (e: unknown) => isGpumodError(e, 'CANCELLED'));
    assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms after the abort`);
    await waitFor('every process of the group to be gone (the deaf one after the grace period)', () => (pidsIn(pids).some(alive) ? undefined : true), KILL_GRACE_MS + 1000);
  });

  it('cancels on the AbortSignal (CANCELLED), and does not start when already aborted', async () => {
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 200);
    const t0 = Date.now();
    await assert.rejects(runProcess(node, ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 10_000, signal: ctrl.signal }, log), (e: unknown) => isGpumodError(e, 'CANCELLED'));
    assert.ok(Date.now() - t0 < 3000);
    const n = log.lines.length;
    await assert.rejects(runProcess(node, ['-e', '0'], { timeoutMs: 10_000, signal: ctrl.signal }, log), (e: unknown) => isGpumodError(e, 'CANCELLED'));
    assert.equal(log.lines.length, n, 'nothing ran');
  });

  it('reports a missing binary as PROCESS_FAILED with ENOENT as the cause', async () => {
    await assert.rejects(runProcess('gpumod-no-such-binary', ['--version'], { timeoutMs: 10_000 }, log), (e: unknown) => {
      assert.ok(isNotFound(e));
      assert.match((e as Error).message, /gpumod-no-such-binary --version: not found/);
      return true;
    });
  });

  it('merges env over process.env and resolves binaries from override variables', async () => {
    const r = await runProcess(node, ['-e', 'console.log(process.env.GPUMOD_PROBE, Boolean(process.env.PATH))'], { timeoutMs: 10_000, env: { GPUMOD_PROBE: 'yes' } }, log);
    assert.equal(r.stdout, 'yes true\n');
    assert.equal(resolveBinary('nvidia-smi', { GPUMOD_NVIDIA_SMI: '/opt/fake/nvidia-smi' }), '/opt/fake/nvidia-smi');
    assert.equal(resolveBinary('systemctl', { GPUMOD_SYSTEMCTL: '' }), 'systemctl');
    assert.equal(resolveBinary('journalctl', {}), process.env.GPUMOD_JOURNALCTL || 'journalctl');
  });
});
