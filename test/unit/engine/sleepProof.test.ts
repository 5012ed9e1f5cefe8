import * as assert from 'node:assert/strict';
import type { GpuProcess, GpuSnapshot } from '../../../src/engine/machinePorts';
import { proveSleep } from '../../../src/engine/sleepProof';
import { isGpumodError } from '../../../src/errors';
import { silentLogger } from '../../../src/system/logger';
import { FakeClock } from './fakeClock';
import { service } from './profile';

const ROUTER = { driver: 'llamacpp' as const, sleep: 'router' as const, vram: 8300, residue: 300, ram: 0 };
const coder = service('coder', ROUTER, 7070, { unit: 'router.service', model: 'coder-7b' });
const chat = service('chat', ROUTER, 7070, { unit: 'router.service', model: 'chat-8b' });
const vllm = service('vllm-chat', { driver: 'vllm', sleep: 'l1', vram: 7000, residue: 1500, ram: 4500 }, 7071);

const router: GpuProcess = { pid: 10, usedMb: 300, unit: 'router.service', command: ['llama-server', '--models-dir', '/m'] };
const child = (alias: string, mb: number, pid: number): GpuProcess => ({ pid, usedMb: mb, unit: 'router.service', command: ['llama-server', '--alias', alias, '--model', `/m/${alias}.gguf`] });
const snap = (...processes: GpuProcess[]): GpuSnapshot => ({
  available: true,
  ms: 1,
  gpus: [{ index: 0, uuid: 'GPU-0', name: 'card', totalMb: 24564, usedMb: processes.reduce((s, p) => s + (p.usedMb ?? 0), 0), freeMb: undefined, processes }],
});

function ports(next: () => GpuSnapshot): Parameters<typeof proveSleep>[2] {
  return { clock: new FakeClock(), log: silentLogger, gpu: { snapshot: async () => next() } };
}

describe('sleepProof: a sleep is proven by the memory it freed', () => {
  const signal = new AbortController().signal;

  it('one model of a shared router: its own child must be gone, the router and the (larger) other model stay', async () => {
    const before = snap(router, child('coder-7b', 8000, 11), child('chat-8b', 12000, 12));
    await proveSleep(coder, before, ports(() => snap(router, child('chat-8b', 12000, 12))), signal, 1000, [chat]);
    await assert.rejects(
      proveSleep(coder, before, ports(() => before), signal, 1000, [chat]),
      (e: unknown) => isGpumodError(e, 'SLEEP_INEFFECTIVE') && /^coder answered its sleep but still holds 8\.0 GB of the 8\.0 GB it held awake/.test((e as Error).message),
    );
  });

  it('a service with its own process: within its residue, or at least half of what it can free', async () => {
    const awake = snap({ pid: 20, usedMb: 7000, unit: 'vllm-chat.service' });
    await proveSleep(vllm, awake, ports(() => snap({ pid: 20, usedMb: 1500, unit: 'vllm-chat.service' })), signal, 1000);
    await proveSleep(vllm, awake, ports(() => snap({ pid: 20, usedMb: 3000, unit: 'vllm-chat.service' })), signal, 1000); // a residue larger than declared
    await assert.rejects(proveSleep(vllm, awake, ports(() => awake), signal, 1000), /is --enable-sleep-mode on its command line/);
  });

  it('proves nothing, and lets the sleep stand, where no GPU can be read', async () => {
    await proveSleep(vllm, undefined, ports(() => ({ available: false, reason: 'no NVIDIA GPU visible' })), signal, 1000);
  });
});
