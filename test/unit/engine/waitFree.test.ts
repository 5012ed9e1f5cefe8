import * as assert from 'node:assert/strict';
import type { GpuProcess, GpuSnapshot } from '../../../src/engine/machinePorts';
import { waitForFreedMemory, type Released } from '../../../src/engine/waitFree';
import { silentLogger } from '../../../src/system/logger';
import { FakeClock } from './fakeClock';
import { service } from './profile';

const chat = service('vllm-chat', { driver: 'vllm', sleep: 'l1', vram: 20000, residue: 1500, ram: 4500 }, 7071);
const embed = service('vllm-embedding', { driver: 'vllm', sleep: 'none', vram: 1000, residue: 0, ram: 0 }, 7072);
const ROUTER = { driver: 'llamacpp' as const, sleep: 'router' as const, vram: 8300, residue: 300, ram: 0 };
const coder = service('coder', ROUTER, 7070, { unit: 'router.service', model: 'coder-7b' });
const mate = service('chat-8b', ROUTER, 7070, { unit: 'router.service', model: 'chat-8b' });

const p = (pid: number, usedMb: number, unit?: string, command?: string[]): GpuProcess => ({ pid, usedMb, ...(unit ? { unit } : {}), ...(command ? { command } : {}) });
const child = (alias: string, mb: number, pid: number): GpuProcess => p(pid, mb, 'router.service', ['llama-server', '--alias', alias, '--model', `/m/${alias}.gguf`]);
const snap = (processes: GpuProcess[], usedMb = processes.reduce((s, x) => s + (x.usedMb ?? 0), 0)): GpuSnapshot => ({
  available: true,
  ms: 1,
  gpus: [{ index: 0, uuid: 'GPU-0', name: 'card', totalMb: 32607, usedMb, freeMb: undefined, processes }],
});

/** Ports whose GPU shows `frames` in turn (the last one from then on); `looks` counts the snapshots taken. */
function ports(frames: GpuSnapshot[]): Parameters<typeof waitForFreedMemory>[2] & { looks: number } {
  const out = {
    looks: 0,
    clock: new FakeClock(),
    log: silentLogger,
    gpu: { snapshot: async () => frames[Math.min(out.looks++, frames.length - 1)] },
  };
  return out;
}

describe('waitFree: the wait for released memory follows each release', () => {
  const signal = new AbortController().signal;
  const stopEmbed: Released = { svc: embed, action: 'stop', wasAwake: true };
  const sleepChat: Released = { svc: chat, action: 'sleep', wasAwake: true };

  it('a small stop lagging behind a large sleep on the same card is waited for, not hidden by the card-wide drop', async () => {
    const before = snap([p(1, 20000, chat.unit), p(2, 1000, embed.unit)]);
    // The sleep shows at once; the stopped process, gone from its unit, stays listed while its memory lags.
    const lagging = snap([p(1, 1500, chat.unit), p(2, 1000)]);
    const freed = snap([p(1, 1500, chat.unit)]);
    const io = ports([lagging, lagging, lagging, freed]);
    const w = await waitForFreedMemory([sleepChat, stopEmbed], before, io, signal, 5000);
    assert.equal(w.result, 'ok');
    assert.equal(io.looks, 4);
    const never = await waitForFreedMemory([sleepChat, stopEmbed], before, ports([lagging]), signal, 500);
    assert.equal(never.result, 'timeout');
    assert.match(never.detail ?? '', /vllm-embedding still shows 1000 MB/);
  });

  it('a sleep with a residue larger than declared counts once within its allowance', async () => {
    const before = snap([p(1, 20000, chat.unit)]);
    const w = await waitForFreedMemory([sleepChat], before, ports([snap([p(1, 2300, chat.unit)])]), signal, 500);
    assert.equal(w.result, 'ok');
    const w2 = await waitForFreedMemory([sleepChat], before, ports([snap([p(1, 9000, chat.unit)])]), signal, 500);
    assert.equal(w2.result, 'timeout');
  });

  it('a sleep of a service that was not awake (a wake cancelled mid-way) is owed nothing: no wait', async () => {
    const before = snap([p(1, 3400, chat.unit)]);
    const io = ports([snap([p(1, 3400, chat.unit)])]);
    const w = await waitForFreedMemory([{ ...sleepChat, wasAwake: false }], before, io, signal, 5000);
    assert.equal(w.result, 'ok');
    assert.equal(io.looks, 0);
  });

  it('one model of a shared router: its child must go, the router and the other model stay', async () => {
    const router = p(10, 300, 'router.service', ['llama-server', '--models-dir', '/m']);
    const before = snap([router, child('coder-7b', 8000, 11), child('chat-8b', 12000, 12)]);
    const unload: Released = { svc: coder, action: 'sleep', wasAwake: true, mates: [mate] };
    const gone = await waitForFreedMemory([unload], before, ports([snap([router, child('chat-8b', 12000, 12)])]), signal, 500);
    assert.equal(gone.result, 'ok');
    const stays = await waitForFreedMemory([unload], before, ports([snap([router, child('coder-7b', 300, 11), child('chat-8b', 12000, 12)])]), signal, 500);
    assert.equal(stays.result, 'timeout', 'a child still listed still holds its model');
  });

  it('without processes to follow, waits for the drop the config says the card should show', async () => {
    const before = snap([], 21000);
    const io = ports([snap([], 20500), snap([], 2000)]);
    assert.equal((await waitForFreedMemory([sleepChat, stopEmbed], before, io, signal, 5000)).result, 'ok');
    assert.equal(io.looks, 2);
    assert.equal((await waitForFreedMemory([sleepChat], { available: false, reason: 'no GPU' }, io, signal, 500)).result, 'skipped');
  });
});
