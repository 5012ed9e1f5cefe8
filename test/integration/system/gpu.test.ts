import * as assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGpumodError } from '../../../src/errors';
import { createGpu } from '../../../src/system/gpu';
import { silentLogger } from '../../../src/system/logger';
import { SERVER_WITH_CHILD } from '../support/programs';
import { installUnit, managerSystemd, removeUnit, scratchDir, unitName } from '../support/testManager';
import { waitFor } from '../support/wait';

const UUID = 'GPU-0e90e587-2121-919b-2f88-bd4defb494ad';

/** A stand-in nvidia-smi: answers each query from a file and records its arguments. */
function fakeNvidiaSmi(dir: string, script?: string): string {
  const path = join(dir, 'nvidia-smi');
  writeFileSync(
    path,
    script ??
      `#!/bin/sh
echo "$*" >> "${dir}/calls"
case "$1" in
  --query-gpu=*) cat "${dir}/gpu.txt" ;;
  --query-compute-apps=*) cat "${dir}/apps.txt" ;;
  *) exit 2 ;;
esac
`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe('system/gpu snapshot', function () {
  this.timeout(30_000);
  const UNIT = unitName('it-gpu');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-gpu-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  after(() => removeUnit(UNIT));

  it('queries without process_name and attributes a unit’s child process to the unit by cgroup', async () => {
    const childPidFile = join(scratchDir(), 'gpu-child.pid');
    rmSync(childPidFile, { force: true });
    await installUnit(UNIT, { execStart: [process.execPath, '-e', SERVER_WITH_CHILD], env: { CHILD_PID_FILE: childPidFile } });
    const sd = managerSystemd();
    await sd.start(UNIT);
    try {
      const childPid = await waitFor('the child PID', () => (existsSync(childPidFile) ? Number(readFileSync(childPidFile, 'utf8')) : undefined));
      writeFileSync(join(dir, 'gpu.txt'), `0, ${UUID}, NVIDIA H100 80GB HBM3, 81559, 27305, 53775\n1, GPU-other, NVIDIA H100 80GB HBM3, 81559, [N/A], [N/A]\n`);
      writeFileSync(join(dir, 'apps.txt'), `${UUID}, ${childPid}, 25188\n${UUID}, ${process.pid}, 2100\n${UUID}, 999999999, [N/A]\n`);
      const gpu = createGpu(silentLogger, { env: { GPUMOD_NVIDIA_SMI: fakeNvidiaSmi(dir) } });
      const snap = await gpu.snapshot();
      assert.ok(snap.available);
      assert.equal(snap.gpus.length, 2);
      assert.deepEqual(snap.gpus[0].processes, [
        // A process in a unit is read with its command line (a router's children are told apart by it).
        { pid: childPid, usedMb: 25188, unit: UNIT, command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] },
        { pid: process.pid, usedMb: 2100 }, // the test runner: in no unit
        { pid: 999999999, usedMb: undefined }, // gone already
      ]);
      assert.equal(snap.gpus[1].usedMb, undefined);
      assert.deepEqual(snap.gpus[1].processes, []);
      const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').sort();
      assert.deepEqual(calls, [
        '--query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits',
        '--query-gpu=index,uuid,name,memory.total,memory.used,memory.free --format=csv,noheader,nounits',
      ]);
    } finally {
      await sd.stop(UNIT);
    }
  });

  it('reports a missing nvidia-smi as unavailable, not as an error', async () => {
    const snap = await createGpu(silentLogger, { env: { GPUMOD_NVIDIA_SMI: join(dir, 'absent') } }).snapshot();
    assert.equal(snap.available, false);
    assert.ok(!snap.available && /^no NVIDIA GPU visible: .*absent not found$/.test(snap.reason), JSON.stringify(snap));
  });

  it('reports exit 9 (no driver) as unavailable with nvidia-smi’s words', async () => {
    const path = fakeNvidiaSmi(dir, `#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."\nexit 9\n`);
    const snap = await createGpu(silentLogger, { env: { GPUMOD_NVIDIA_SMI: path } }).snapshot();
    assert.deepEqual(snap, {
      available: false,
      reason: "no NVIDIA GPU visible: nvidia-smi exited 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
    });
  });

  it('reports a hung nvidia-smi as unavailable after its deadline, and cancellation as CANCELLED', async () => {
    const path = fakeNvidiaSmi(dir, `#!/bin/sh\nexec sleep 30\n`);
    const snap = await createGpu(silentLogger, { env: { GPUMOD_NVIDIA_SMI: path }, timeoutMs: 300 }).snapshot();
    assert.ok(!snap.available && /did not finish within 300 ms/.test(snap.reason));
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 100);
    await assert.rejects(createGpu(silentLogger, { env: { GPUMOD_NVIDIA_SMI: path } }).snapshot({ signal: ctrl.signal }), (e: unknown) => isGpumodError(e, 'CANCELLED'));
  });
});
