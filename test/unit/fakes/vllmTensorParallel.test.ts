// The fake vLLM spread over two cards (--gpus 0,1), read back through the fake nvidia-smi as gpumod
// reads it: one worker process per card, each holding its share awake and its residue asleep.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../../fakes/lib/gpuFiles';
import { fakeBin, startFake, type RunningFake } from '../../fakes/lib/spawnFake';
import { http, json, waitFor } from '../../fakes/lib/testHttp';

const FAST = ['--startup-ms', '0', '--sleep-ms-l1', '20', '--sleep-ms-l2', '10', '--wake-ms-l1', '20', '--wake-ms-l2', '20', '--wake-ms-kv', '5', '--reload-ms', '30', '--stop-ms', '300'];
const TWO_CARDS = '24576,24576';

interface App {
  card: number;
  pid: number;
  name: string;
  mb: number;
}

describe('fake vLLM on several cards (tensor parallelism)', function () {
  this.timeout(10000);
  let dir: string;
  const fakes: RunningFake[] = [];
  const start = async (args: string[]): Promise<RunningFake> => {
    const f = await startFake('vllm', [...FAST, '--gpu-dir', dir, ...args]);
    fakes.push(f);
    return f;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-gpu-'));
  });
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  });

  const smi = (args: string[], totals = TWO_CARDS): Promise<string> =>
    new Promise((res, rej) => {
      const env = { ...process.env, FAKE_GPU_DIR: dir, FAKE_GPU_TOTAL_MB: totals, FAKE_GPU_LATENCY_MS: '0' };
      execFile(fakeBin('nvidia-smi'), [...args, '--format=csv,noheader,nounits'], { env, timeout: 5000 }, (err, stdout) => (err ? rej(err) : res(stdout)));
    });
  /** The compute apps as nvidia-smi lists them, the card read off the UUID's last two hex digits. */
  const apps = async (): Promise<App[]> =>
    (await smi(['--query-compute-apps=gpu_uuid,pid,process_name,used_memory']))
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [uuid, pid, name, mb] = l.split(', ');
        return { card: parseInt(uuid.slice(-2), 16), pid: Number(pid), name, mb: Number(mb) };
      });
  const usedPerCard = async (): Promise<number[]> => (await smi(['--query-gpu=memory.used'])).trimEnd().split('\n').map(Number);
  const state = async (f: RunningFake): Promise<Record<string, unknown>> => (await json('GET', `${f.url}/_fake/state`)).value as Record<string, unknown>;
  const parentOf = (pid: number): number => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };
  /** The MB each card's worker shows, once it settles on `want` (a release shows after its 25 ms lag). */
  const settles = async (want: number[]): Promise<void> => {
    let seen: number[] = [];
    await waitFor(`the cards to show ${want.join(' + ')} MB`, async () => {
      seen = (await apps()).map((a) => a.mb);
      return seen.join() === want.join();
    }, 2000).catch((err: Error) => assert.fail(`${err.message}; nvidia-smi shows ${seen.join(' + ')} MB`));
  };

  it('holds its share on each card in a VLLM::Worker_TPn child; asleep each keeps its residue; wake restores the shares', async () => {
    const f = await start(['--gpus', '0,1', '--vram-mb', '20000', '--vram-asleep-mb', '3000']);
    const awake = await apps();
    assert.deepEqual(awake.map((a) => [a.card, a.name, a.mb]), [[0, 'VLLM::Worker_TP0', 10000], [1, 'VLLM::Worker_TP1', 10000]]);
    assert.deepEqual(await usedPerCard(), [10000, 10000]);
    // Children of the server, in its cgroup (where gpumod looks for a unit's processes).
    const cgroup = (pid: number): string => readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    for (const a of awake) {
      assert.equal(parentOf(a.pid), f.pid, `${a.name} is the server's child`);
      assert.equal(cgroup(a.pid), cgroup(f.pid));
      assert.equal(readFileSync(`/proc/${a.pid}/cmdline`, 'utf8').split('\0')[0], a.name);
    }
    const st = await state(f);
    assert.deepEqual([st.gpus, st.gpuPids, st.vramByGpu, st.vramMb, st.gpuPid], [[0, 1], awake.map((a) => a.pid), [10000, 10000], 20000, awake[0].pid]);

    await http('POST', `${f.url}/sleep?level=1`);
    await settles([3000, 3000]);
    assert.deepEqual((await apps()).map((a) => a.pid), awake.map((a) => a.pid), 'the same workers, asleep');
    assert.equal((await state(f)).vramMb, 6000);

    await http('POST', `${f.url}/wake_up?tags=weights`);
    const half = (await apps()).map((a) => a.mb);
    assert.ok(half[0] === half[1] && half[0] > 3000 && half[0] < 10000, `weights awake on both cards, KV cache not yet: ${half.join(' + ')}`);
    await http('POST', `${f.url}/wake_up?tags=kv_cache`);
    await settles([10000, 10000]);

    // Level 2 discards the weights on both cards; the residue stays on each.
    await http('POST', `${f.url}/sleep?level=2`);
    await settles([3000, 3000]);
  });

  it('splits an odd total with the remainder on the first card; by default each card keeps --vram-asleep-mb asleep', async () => {
    const f = await start(['--gpus', '0,1', '--vram-mb', '7001']);
    assert.deepEqual((await apps()).map((a) => a.mb), [3501, 3500]);
    await http('POST', `${f.url}/sleep?level=1`);
    await settles([1500, 1500]);
    // A residue larger than a card's share is capped at the share, as one card caps it at the total.
    const g = await start(['--gpus', '0,1', '--vram-mb', '2000', '--vram-asleep-mb', '5000']);
    await http('POST', `${g.url}/sleep?level=1`);
    assert.deepEqual((await state(g)).vramByGpu, [1000, 1000]);
  });

  it('any cards, in rank order; --gpus with one card is the one-card server (EngineCore on that card)', async () => {
    await start(['--gpus', '2', '--gpus', '1', '--vram-mb', '8000']);
    const out = await smi(['--query-compute-apps=gpu_uuid,process_name,used_memory'], '24576,24576,24576');
    assert.deepEqual(out.trimEnd().split('\n').map((l) => l.replace(/^GPU-\S+(\d\d), /, '$1 ')), ['01 VLLM::Worker_TP1, 4000', '02 VLLM::Worker_TP0, 4000']);
    const one = await start(['--gpus', '1', '--vram-mb', '5000']);
    const pid = (await state(one)).gpuPid as number;
    assert.equal((await state(one)).gpus, undefined, 'a one-card state is as before');
    const mine = (await apps()).filter((a) => a.pid === pid);
    assert.deepEqual(mine.map((a) => [a.card, a.name, a.mb]), [[1, 'VLLM::EngineCore', 5000]]);
  });

  it('--gpu-child off: the server holds the first card itself, a worker the others', async () => {
    const f = await start(['--gpus', '0,1', '--gpu-child', 'off', '--vram-mb', '6000']);
    const seen = await apps();
    assert.deepEqual(seen.map((a) => [a.card, a.mb]), [[0, 3000], [1, 3000]]);
    assert.equal(seen[0].pid, f.pid);
    assert.equal(seen[1].name, 'VLLM::Worker_TP1');
    assert.equal(parentOf(seen[1].pid), f.pid);
  });

  it('SIGTERM frees every card with the stop lag and exits 0; the workers go with it', async () => {
    const f = await start(['--gpus', '0,1', '--vram-mb', '8000']);
    const pids = (await apps()).map((a) => a.pid);
    assert.equal(await f.stop('SIGTERM'), 0);
    for (const pid of pids) {
      const file = JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as { usedMb: number; prevMb: number; lagMs: number };
      assert.deepEqual([file.usedMb, file.prevMb, file.lagMs], [0, 4000, 300]);
    }
    await waitFor('the workers gone', () => pids.every((p) => !pidAlive(p)), 2000);
    await waitFor('the stop lag over', async () => (await apps()).length === 0, 2000);
  });

  it('a dead worker takes the server and the other worker down, as vLLM’s executor does', async () => {
    const f = await start(['--gpus', '0,1']);
    const [tp0, tp1] = (await apps()).map((a) => a.pid);
    process.kill(tp1, 'SIGKILL');
    assert.equal(await f.exited, 1);
    assert.match(f.output(), /vllm: Worker_TP1 died \(exit null\); shutting down/);
    await waitFor('Worker_TP0 gone with its server', () => !pidAlive(tp0), 2000);
  });

  it('--oom: a card without room for its share fails the start like a CUDA OOM on that card', async () => {
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify([{ pid: 4242, usedMb: 20000, gpu: 1 }]));
    await assert.rejects(start(['--gpus', '0,1', '--vram-mb', '10000', '--oom', 'on', '--gpu-total-mb', '24576']), /exited with 1[^]*OutOfMemoryError: CUDA out of memory\. Tried to allocate 4\.88 GiB\. GPU 1 has a total capacity of 24\.00 GiB of which 4\.47 GiB is free/);
    const f = await start(['--gpus', '0,1', '--vram-mb', '8000', '--oom', 'on', '--gpu-total-mb', '24576']);
    await http('POST', `${f.url}/sleep?level=1`);
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify([{ pid: 4242, usedMb: 22000, gpu: 1 }]));
    const wake = await http('POST', `${f.url}/wake_up`);
    assert.equal(wake.status, 500);
    assert.match(wake.body, /GPU 1 has a total capacity/);
  });

  it('refuses a --gpus that is not distinct card indexes (exit 2)', async () => {
    await assert.rejects(start(['--gpus', '0,0']), /exited with 2[^]*--gpus names a card twice/);
    await assert.rejects(start(['--gpus', '0,x']), /exited with 2[^]*--gpus is a comma list of card indexes/);
  });
});
