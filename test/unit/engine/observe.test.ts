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

  it('asks systemd once for every unit, then probes the services in parallel, beside the GPU query', async () => {
    const m = machine(32, 'code');
    const slow = m.ports();
    const showMany = slow.systemd.showMany;
    slow.systemd = { ...slow.systemd, showMany: async (u, o) => (await m.clock.sleep(30), showMany(u, o)) };
    for (const name of m.config.services.keys()) m.probeDelayMs.set(name, 100);
    const t0 = m.clock.now();
    await observe(m.config, slow, new AbortController().signal);
    assert.equal(m.clock.now() - t0, 130, 'a 30 ms show, then seven 100 ms probes side by side (the 28 ms GPU query meanwhile)');
    assert.deepEqual(
      m.calls.filter((c) => c.op === 'show' || c.op === 'showMany').map((c) => [c.op, c.units]),
      [['showMany', [...m.config.services.values()].map((s) => s.unit)]],
    );
    assert.equal(m.calls.filter((c) => c.op === 'probe').length, 7, 'the stopped vllm-tts is not probed');
  });

  it('a unit systemd cannot show is unknown, with the reason; a hanging probe is cut at 5 s', async () => {
    const m = machine(32, 'code');
    const ports = m.ports();
    const showMany = ports.systemd.showMany;
    ports.systemd = {
      ...ports.systemd,
      showMany: async (units, o) =>
        (await showMany(units, o)).map((look, i) => (units[i] === 'vllm-tts.service' ? { status: 'rejected', reason: new GpumodError('PROCESS_FAILED', 'systemctl exited 1') } : look)),
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
