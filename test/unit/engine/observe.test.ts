import * as assert from 'node:assert/strict';
import { observe } from '../../../src/engine/observe';
import { GpumodError } from '../../../src/errors';
import { machine } from './profile';

describe('observe', () => {
  it('combines systemd and the probe for every service, and attributes VRAM by unit', async () => {
    const m = machine(32, 'code');
    m.addForeign(0, 1200);
    const obs = await observe(m.config, m.ports(), new AbortController().signal);
    const s = (n: string) => obs.services.get(n)!;
    assert.deepEqual([s('glm-code').state, s('glm-code').healthy, s('glm-code').vramMb], ['running', true, 20_000]);
    assert.deepEqual([s('vllm-chat').state, s('vllm-chat').sleep, s('vllm-chat').vramMb], ['sleeping', 'l1', 1500]);
    assert.deepEqual([s('vllm-tts').state, s('vllm-tts').vramMb], ['stopped', 0]);
    assert.equal(obs.foreignMb.get(0), 1200);
    assert.equal(obs.gpu.available, true);
    // The probe is asked only where a process runs.
    assert.ok(!m.calls.some((c) => c.op === 'probe' && c.service === 'vllm-tts'));
  });

  it('runs the services in parallel', async () => {
    const m = machine(32, 'code');
    const slow = m.ports();
    const show = slow.systemd.show;
    slow.systemd = { ...slow.systemd, show: async (u, o) => (await m.clock.sleep(100), show(u, o)) };
    const t0 = m.clock.now();
    await observe(m.config, slow, new AbortController().signal);
    assert.equal(m.clock.now() - t0, 100, 'eight 100 ms shows take 100 ms');
  });

  it('a unit systemd cannot show is unknown, with the reason; a hanging probe is cut at 5 s', async () => {
    const m = machine(32, 'code');
    const ports = m.ports();
    const show = ports.systemd.show;
    ports.systemd = {
      ...ports.systemd,
      show: async (u, o) => {
        if (u === 'vllm-tts.service') throw new GpumodError('PROCESS_FAILED', 'systemctl exited 1');
        return show(u, o);
      },
    };
    const drivers = ports.drivers;
    ports.drivers = (svc) => (svc.name === 'glm-code' ? { ...drivers(svc), probe: () => new Promise(() => undefined) } : drivers(svc));
    const t0 = m.clock.now();
    const obs = await observe(m.config, ports, new AbortController().signal);
    assert.equal(obs.services.get('vllm-tts')?.state, 'unknown');
    assert.match(obs.services.get('vllm-tts')?.detail ?? '', /^systemd: systemctl exited 1$/);
    assert.equal(obs.services.get('glm-code')?.state, 'unknown');
    assert.match(obs.services.get('glm-code')?.detail ?? '', /probe failed: probe glm-code did not finish within 5\.0 s/);
    assert.equal(m.clock.now() - t0, 5000);
  });

  it('without a GPU: no VRAM figures, no foreign memory', async () => {
    const m = machine(32, 'code');
    m.gpuVisible = false;
    const obs = await observe(m.config, m.ports(), new AbortController().signal);
    assert.equal(obs.gpu.available, false);
    assert.equal(obs.services.get('glm-code')?.vramMb, undefined);
    assert.equal(obs.foreignMb.size, 0);
  });
});
