// What an observation costs on the real workstation (real units, fakes, the fake nvidia-smi): the
// processes a switch spawns, counted from the `> command` lines every process logs, and the wall
// time of a no-op switch (printed; the bench holds the goal, this machine is shared).
import * as assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load';
import type { Config } from '../../../src/config/types';
import type { GpuSnapshot, ProcessOptions } from '../../../src/engine/machinePorts';
import { switchMode, type SwitchResult } from '../../../src/engine/switcher';
import { createMachine, type Machine } from '../../../src/machine';
import { recordingLogger } from '../support/recordingLogger';
import { testPort } from '../support/testManager';
import { waitFor } from '../support/wait';
import { startWorkstation, type Harness } from './harness';

interface Counted {
  result: SwitchResult;
  ms: number;
  /** The argv after `systemctl --user` of each systemctl run. */
  systemctl: string[][];
  nvidiaSmi: number;
  snapshots: number;
  /** `systemctl show 12ms, nvidia-smi 150ms, …`: each process's own time. */
  spent: string;
}

describe('engine: what an observation costs on the real workstation', function () {
  this.timeout(120_000);
  let h: Harness;
  let config: Config;

  /**
   * `canned` stands in for the GPU query: what is left is the cost of everything but nvidia-smi. A new
   * machine each time (a CLI run's), unless `machine` is given (a window's, the gateway's).
   */
  const run = async (target: string, canned?: GpuSnapshot, machine?: { m: Machine; log: ReturnType<typeof recordingLogger> }): Promise<Counted> => {
    const log = machine?.log ?? recordingLogger();
    log.lines.length = 0;
    const m = machine?.m ?? createMachine(config, log, { ...process.env, ...h.env });
    let snapshots = 0;
    const gpu = m.ports.gpu;
    const ports = { ...m.ports, gpu: { ...gpu, snapshot: async (o?: ProcessOptions) => (snapshots++, canned ?? gpu.snapshot(o)) } };
    try {
      const t0 = performance.now();
      const result = await switchMode(config, target, ports);
      const ms = performance.now() - t0;
      assert.equal(result.ok, true, result.message);
      const systemctl = log.lines.filter((l) => l.startsWith('> systemctl --user ')).map((l) => l.replace(/^> systemctl --user /, '').replace(/ \[\d+ms\].*$/, '').split(' '));
      const spent = log.lines
        .map((l) => /^> (systemctl --user \S+|nvidia-smi)\b.* \[(\d+)ms\]/.exec(l))
        .filter((x) => x !== null)
        .map((x) => `${x[1].replace('--user ', '')} ${x[2]}ms`)
        .join(', ');
      return { result, ms, systemctl, nvidiaSmi: log.lines.filter((l) => l.startsWith('> nvidia-smi ')).length, snapshots, spent };
    } finally {
      if (!machine) await m.close();
    }
  };
  const units = (): string[] => [...config.services.values()].map((s) => s.unit);
  /** A `show` of every configured unit: one observation's worth. */
  const isObservation = (argv: string[]): boolean => argv[0] === 'show' && units().every((u) => argv.includes(u));

  before(async () => {
    h = await startWorkstation('32', testPort(820), { prefix: 'oc-' });
    const loaded = await loadConfig(h.ws.configPath);
    assert.ok(loaded.ok);
    config = loaded.config;
    await run('code');
  });
  after(async () => {
    await h?.teardown();
  });

  it('code → code observes once: one systemctl process for every unit, one GPU snapshot', async () => {
    const runs: Counted[] = [];
    const noGpu: Counted[] = [];
    const probe = createMachine(config, recordingLogger(), { ...process.env, ...h.env });
    const canned = await probe.ports.gpu.snapshot();
    await probe.close();
    assert.equal(canned.available, true);
    // Alternating, so that the machine's load falls on both alike.
    for (let i = 0; i < 7; i++) {
      runs.push(await run('code'));
      noGpu.push(await run('code', canned));
    }
    const report = (what: string, rs: Counted[]): void => {
      const sorted = [...rs].sort((a, b) => a.ms - b.ms);
      const median = sorted[sorted.length >> 1];
      console.log(`      no-op code → code ${what}: median ${median.ms.toFixed(1)} ms (min ${sorted[0].ms.toFixed(1)}, max ${sorted.at(-1)!.ms.toFixed(1)}, ${rs.length} runs); the median run's processes: ${median.spent || 'none'}`);
    };
    report('(fake nvidia-smi)', runs);
    report('(GPU answered at once)', noGpu);
    for (const r of [...runs, ...noGpu]) {
      assert.equal(r.result.noop, true);
      assert.equal(r.systemctl.length, 1, r.systemctl.map((a) => a.join(' ')).join('\n'));
      assert.ok(isObservation(r.systemctl[0]), r.systemctl[0].join(' '));
      assert.equal(r.snapshots, 1);
    }
  });

  it('code → rag on a new machine (a CLI run): one systemctl process of every unit for the first look, at most one more for the verification', async () => {
    const r = await run('rag');
    console.log(`      code → rag: ${r.ms.toFixed(0)} ms; ${r.systemctl.length} systemctl (${r.systemctl.map((a) => a[0]).join(', ')}), ${r.nvidiaSmi} nvidia-smi`);
    const shows = r.systemctl.filter((x) => x[0] === 'show');
    assert.ok(isObservation(shows[0]), shows[0].join(' '));
    // The cold starts' own shows (is it failed? has its process exited meanwhile?) are of their unit
    // alone; the verification shows at most once the units the bus cannot vouch for (the machine's bus
    // connection is made in the background, and what was shown before it was up is shown again).
    const started = new Set(r.result.timeline.filter((e) => e.action === 'start').map((e) => config.services.get(e.service)?.unit));
    const alone = (a: string[]): boolean => a.at(-2) === '--' && started.has(a.at(-1));
    const verifications = shows.slice(1).filter((a) => !alone(a));
    assert.ok(verifications.length <= 1, verifications.map((a) => a.join(' ')).join('\n'));
  });

  it('a long-lived machine: rag → code → rag spawn no systemctl once the units were shown (sleeps and wakes change no unit)', async () => {
    const log = recordingLogger();
    const m = createMachine(config, log, { ...process.env, ...h.env });
    try {
      // The machine's bus connection is made in the background: until it is up, looks are systemctl's.
      await waitFor('a no-op switch without systemctl', async () => ((await run('rag', undefined, { m, log })).systemctl.length === 0 ? true : undefined), 10_000);
      for (const target of ['code', 'rag']) {
        const r = await run(target, undefined, { m, log });
        assert.equal(r.result.timeline.some((e) => e.action === 'start' || e.action === 'stop'), false);
        assert.deepEqual(r.systemctl, [], `${target}: ${r.systemctl.map((a) => a.join(' ')).join('\n')}`);
      }
    } finally {
      await m.close();
    }
  });
});
