// `gpumod status` as a process, with nvidia-smi replaced by a wrapper that never ends and whose
// grandchildren keep its stdout open (a driver-wedged nvidia-smi behaves alike): the status still
// answers within the GPU query's limit, and no process of the wrapper outlives the CLI, also when
// the CLI is interrupted (Ctrl-C) in the middle of the query.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, hangingScript, pidsIn } from '../support/hangingScript';
import { managerEnv, testPort, unitName } from '../support/testManager';
import { waitFor } from '../support/wait';
import { CLI, gpumod } from './runCli';

/** The GPU query's limit in observe (SHOW_TIMEOUT_MS). */
const GPU_QUERY_MS = 5000;
/** Starting node and loading the CLI on a loaded 2-core machine. */
const STARTUP_MS = 2500;
/** Both queries (--query-gpu and --query-compute-apps) run the wrapper: 4 PIDs each. */
const PIDS_PER_RUN = 8;

describe('gpumod status with an nvidia-smi that hangs (the CLI as a process)', function () {
  this.timeout(60_000);
  let dir: string;
  let pids: string;
  let env: Record<string, string>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-hang-'));
    pids = join(dir, 'pids');
    const config = join(dir, 'gpumod.yaml');
    writeFileSync(config, `services:\n  s: { driver: systemd, unit: ${unitName('hang-s')}, port: ${testPort(1130)}, vram_mb: 100 }\nmodes: {}\n`);
    env = { ...managerEnv(), GPUMOD_CONFIG: config, XDG_STATE_HOME: join(dir, 'state'), GPUMOD_NVIDIA_SMI: hangingScript(dir, pids) };
  });

  afterEach(async () => {
    // A failing run must not leave the wrapper's processes behind for the next tests.
    for (const pid of pidsIn(pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers within the GPU query limit, says why there is no GPU, and leaves no process behind', async () => {
    const t0 = Date.now();
    const r = await gpumod(['status', '--json'], env, 30_000);
    const took = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(took < GPU_QUERY_MS + STARTUP_MS, `gpumod status took ${took} ms`);
    const gpu = (JSON.parse(r.stdout) as { gpu: { available: boolean; reason: string } }).gpu;
    assert.equal(gpu.available, false);
    assert.match(gpu.reason, /did not finish within 5000 ms/);
    assert.equal(pidsIn(pids).length, PIDS_PER_RUN);
    await waitFor('every process of the wrapper to be gone', () => (pidsIn(pids).some(alive) ? undefined : true), 1000);
  });

  it('Ctrl-C in the middle of the query ends the CLI and every process of the wrapper', async () => {
    const cli = spawn(process.execPath, [CLI, 'status'], { env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env }, stdio: 'ignore' });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => cli.once('exit', (code, signal) => resolve({ code, signal })));
    await waitFor('both queries to have started the wrapper', () => (pidsIn(pids).length === PIDS_PER_RUN ? true : undefined), 10_000);
    const t0 = Date.now();
    cli.kill('SIGINT');
    const end = await exited;
    assert.ok(Date.now() - t0 < 2000, `the CLI took ${Date.now() - t0} ms to end`);
    assert.ok(end.signal === 'SIGINT' || end.code === 130, `ended by ${JSON.stringify(end)}`);
    await waitFor('every process of the wrapper to be gone', () => (pidsIn(pids).some(alive) ? undefined : true), 1000);
  });
});
