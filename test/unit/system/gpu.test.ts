import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { joinGpuApps, unitOfCgroupFile } from '../../../src/system/gpu';
import { APPS_FIELDS, GPU_FIELDS, parseAppsQuery, parseGpuQuery } from '../../../src/system/smiCsv';

const FIXTURES = resolve(process.cwd(), 'test/fixtures');
const UUID = 'GPU-0e90e587-2121-919b-2f88-bd4defb494ad';

/** A recording: the `$ nvidia-smi …` line gives the queried fields; it and `# exit=…` are not output. */
function recording(name: string): { fields: string[]; output: string } {
  const text = readFileSync(join(FIXTURES, 'nvidia-smi', name), 'utf8');
  const lines = text.split('\n');
  const command = lines.find((l) => l.startsWith('$ ')) ?? '';
  const fields = (/--query-[a-z-]+=(\S+)/.exec(command)?.[1] ?? '').split(',');
  return { fields, output: lines.filter((l) => !l.startsWith('$ ') && !l.startsWith('# exit=')).join('\n') };
}

describe('system/gpu parsers', () => {
  it('parses the recorded --query-gpu output (extra trailing fields ignored)', () => {
    const { output } = recording('nvidia-smi-gpu-awake-24GiB.txt');
    assert.deepEqual(parseGpuQuery(output), [
      { index: 0, uuid: UUID, name: 'NVIDIA H100 80GB HBM3', totalMb: 81559, usedMb: 25205, freeMb: 55875 },
    ]);
    assert.equal(parseGpuQuery(recording('nvidia-smi-gpu-idle.txt').output)[0].usedMb, 0);
    assert.equal(parseGpuQuery(recording('nvidia-smi-gpu-l1-asleep.txt').output)[0].usedMb, 2709);
  });

  it('parses a recording with its own field list, header line and MiB units', () => {
    const rec = recording('nvidia-smi-gpu-header.txt');
    assert.deepEqual(rec.fields, ['index', 'memory.total', 'memory.used', 'memory.free']);
    assert.deepEqual(parseGpuQuery(rec.output, rec.fields), [{ index: 0, uuid: '', name: '', totalMb: 81559, usedMb: 0, freeMb: 81079 }]);
  });

  it('treats [N/A] and [Not Supported] as unknown, not 0', () => {
    const rows = parseGpuQuery(`0, ${UUID}, NVIDIA GeForce RTX 4090, 24564, [N/A], [Not Supported]\n`);
    assert.equal(rows[0].totalMb, 24564);
    assert.equal(rows[0].usedMb, undefined);
    assert.equal(rows[0].freeMb, undefined);
    const apps = parseAppsQuery(`${UUID}, 4242, [N/A]\n`);
    assert.deepEqual(apps, [{ gpuUuid: UUID, pid: 4242, usedMb: undefined }]);
  });

  it('parses the recorded compute-apps output, which includes process_name', () => {
    const rec = recording('nvidia-smi-apps-awake-24GiB.txt');
    assert.deepEqual(rec.fields, ['gpu_uuid', 'pid', 'process_name', 'used_memory']);
    assert.deepEqual(parseAppsQuery(rec.output, rec.fields), [{ gpuUuid: UUID, pid: 417, usedMb: 25188 }]);
    const asleep = recording('nvidia-smi-apps-l1-asleep.txt');
    assert.deepEqual(parseAppsQuery(asleep.output, asleep.fields), [{ gpuUuid: UUID, pid: 417, usedMb: 2660 }]);
  });

  it('keeps columns aligned when a process_name contains ", "', () => {
    const fields = ['gpu_uuid', 'pid', 'process_name', 'used_memory'];
    assert.deepEqual(parseAppsQuery(`${UUID}, 77, /opt/chrome --type=gpu, --flag, 312\n`, fields), [{ gpuUuid: UUID, pid: 77, usedMb: 312 }]);
  });

  it('reads empty output (the idle recording) and a header-only answer as no processes', () => {
    const idle = recording('nvidia-smi-apps-idle.txt');
    assert.deepEqual(parseAppsQuery(idle.output, idle.fields), []);
    assert.deepEqual(parseAppsQuery(''), []);
    assert.deepEqual(parseAppsQuery('gpu_uuid, pid, used_gpu_memory [MiB]\n'), []);
  });

  it('uses the default field lists that the adapter queries (no process_name)', () => {
    assert.deepEqual([...APPS_FIELDS], ['gpu_uuid', 'pid', 'used_memory']);
    assert.deepEqual([...GPU_FIELDS], ['index', 'uuid', 'name', 'memory.total', 'memory.used', 'memory.free']);
    assert.deepEqual(parseAppsQuery(`${UUID}, 3858903, 6265\n${UUID}, 3858950, 6010 MiB\n`), [
      { gpuUuid: UUID, pid: 3858903, usedMb: 6265 },
      { gpuUuid: UUID, pid: 3858950, usedMb: 6010 },
    ]);
  });

  it('joins processes to GPUs on the uuid, with their units', () => {
    const gpus = parseGpuQuery(`0, GPU-a, A, 100, 50, 50\n1, GPU-b, B, 100, 10, 90\n`);
    const apps = parseAppsQuery(`GPU-b, 10, 7\nGPU-a, 11, 40\nGPU-zz, 12, 3\n`);
    const joined = joinGpuApps(gpus, apps, (pid) => (pid === 10 ? 'vllm-chat.service' : undefined));
    assert.deepEqual(joined[0].processes, [{ pid: 11, usedMb: 40 }]);
    assert.deepEqual(joined[1].processes, [{ pid: 10, usedMb: 7, unit: 'vllm-chat.service' }]);
  });
});

describe('system/gpu unitOfCgroupFile', () => {
  it('reads the cgroup v2 line', () => {
    assert.equal(unitOfCgroupFile('0::/user.slice/user-1000.slice/user@1000.service/app.slice/vllm-qwen.service\n'), 'vllm-qwen.service');
  });

  it('reads the name=systemd line of a hybrid hierarchy', () => {
    const text = [
      '9:name=systemd:/user.slice/user-0.slice/user@0.service/app.slice/glm-code.service',
      '8:pids:/',
      '4:memory:/process_api/b4b713c8',
      '1:cpu:/',
      '0::/user.slice/user-0.slice/user@0.service/app.slice/glm-code.service',
      '',
    ].join('\n');
    assert.equal(unitOfCgroupFile(text), 'glm-code.service');
  });

  it('skips sub-cgroups of a delegated unit and slices', () => {
    assert.equal(unitOfCgroupFile('0::/user.slice/user-0.slice/user@0.service/app.slice/vllm.service/engine/worker0\n'), 'vllm.service');
    assert.equal(unitOfCgroupFile('0::/user.slice/user-0.slice/gpumod-1.slice/user@0.service/app.slice/x.service\n'), 'x.service');
  });

  it('returns scopes, system services, and nothing for the user manager or the root', () => {
    assert.equal(unitOfCgroupFile('0::/user.slice/user-1000.slice/session-3.scope\n'), 'session-3.scope');
    assert.equal(unitOfCgroupFile('0::/system.slice/ollama.service\n'), 'ollama.service');
    assert.equal(unitOfCgroupFile('0::/user.slice/user-1000.slice/user@1000.service\n'), undefined);
    assert.equal(unitOfCgroupFile('0::/\n'), undefined);
    assert.equal(unitOfCgroupFile('9:name=systemd:/\n0::/\n'), undefined);
    assert.equal(unitOfCgroupFile(''), undefined);
  });

  it('unescapes names systemd escaped with "_"', () => {
    assert.equal(unitOfCgroupFile('0::/user.slice/user-0.slice/user@0.service/app.slice/_cpu.service\n'), 'cpu.service');
  });
});
