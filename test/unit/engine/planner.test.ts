import * as assert from 'node:assert/strict';
import { estimates } from '../../../src/engine/history';
import { plan, type PlanOptions } from '../../../src/engine/planner';
import type { Plan } from '../../../src/engine/types';
import { isGpumodError } from '../../../src/errors';
import type { FakeState } from './fakeMachine';
import { look, machine, profileConfig, profileHistory, service, type Card, type ModeName } from './profile';

/** `service → action[:depth]` for every step. */
function actions(p: Plan): Record<string, string> {
  return Object.fromEntries(p.steps.map((s) => [s.service, s.depth ? `${s.action}:${s.depth}` : s.action]));
}

async function planOn(
  card: Card,
  from: ModeName | undefined,
  to: ModeName | string,
  opts: PlanOptions & { overrides?: Record<string, FakeState>; config?: ReturnType<typeof profileConfig>; foreignMb?: number } = {},
): Promise<Plan> {
  const m = machine(card, from, opts.overrides, opts.config);
  if (opts.foreignMb) m.addForeign(0, opts.foreignMb);
  const obs = await look(m);
  return plan(m.config, obs, to, { currentMode: from, ...opts });
}

const hasNote = (p: Plan, re: RegExp): boolean => p.notes.some((n) => re.test(n));

describe('planner on the 32 GB card (profile.md)', () => {
  it('code → rag: unloads glm-code, wakes chat/hyde/reranker, keeps vllm-embedding running, cold-starts nothing', async () => {
    const p = await planOn(32, 'code', 'rag');
    assert.deepEqual(actions(p), {
      'vllm-chat': 'wake',
      'vllm-hyde': 'wake',
      'vllm-reranker': 'wake',
      'vllm-embedding': 'keep',
      'vllm-embedding-code': 'keep',
      'vllm-tts': 'keep',
      'qwen3-asr': 'keep',
      'glm-code': 'sleep:router',
    });
    assert.equal(p.refused, undefined);
    assert.equal(p.noop, false);
    assert.ok(!p.steps.some((s) => s.action === 'start' || s.action === 'stop'));
    assert.ok(!hasNote(p, /cold-start/), p.notes.join('\n'));
    // unload 0.3 s + 50 ms + the slowest wake (L2, 1.5 s): about 2 s against ~265 s of cold starts.
    assert.ok(p.estimateMs < 3000, `estimate ${p.estimateMs}`);
    assert.deepEqual(p.phases, { releaseMs: 300, waitFreeMs: 50, acquireMs: 1500 });
    const b = p.budgets[0];
    assert.equal(b.totalMb, 32607);
    // rag 18 GB + vllm-embedding-code 3 GB kept + residues glm 300 + asr 500.
    assert.equal(b.afterMb, 21800);
  });

  it('code → rag with vllm-embedding stopped starts it and says why', async () => {
    const p = await planOn(32, 'code', 'rag', { overrides: { 'vllm-embedding': 'stopped' } });
    assert.equal(actions(p)['vllm-embedding'], 'start');
    assert.ok(hasNote(p, /^vllm-embedding must cold-start \(~60 s\): it cannot sleep/), p.notes.join('\n'));
  });

  it('rag → code: sleeps the rag services at their depths, loads glm-code and says a load is a real reload', async () => {
    const p = await planOn(32, 'rag', 'code');
    assert.deepEqual(actions(p), {
      'vllm-chat': 'sleep:l1',
      'vllm-hyde': 'sleep:l2',
      'vllm-reranker': 'sleep:l2',
      'vllm-embedding': 'keep',
      'vllm-embedding-code': 'keep',
      'vllm-tts': 'keep',
      'qwen3-asr': 'keep',
      'glm-code': 'load',
    });
    assert.ok(hasNote(p, /glm-code loads its model \(~20 s\): a llama\.cpp load is a real reload/), p.notes.join('\n'));
    assert.ok(p.estimateMs >= 20_000 && p.estimateMs < 22_000, `estimate ${p.estimateMs}`);
    // 23 GB code + 3 GB vllm-embedding kept + 3.8 GB of residues + 0.5 GB margin ≤ 32.6 GB.
    assert.equal(p.budgets[0].afterMb, 29800);
  });

  it('speak → blank: sleeps what can sleep, stops what cannot', async () => {
    const p = await planOn(32, 'speak', 'blank');
    assert.deepEqual(actions(p), {
      'vllm-chat': 'sleep:l1',
      'vllm-hyde': 'keep',
      'vllm-reranker': 'keep',
      'vllm-embedding': 'stop',
      'vllm-embedding-code': 'stop',
      'vllm-tts': 'stop',
      'qwen3-asr': 'sleep:hook',
      'glm-code': 'keep',
    });
    assert.equal(p.budgets[0].afterMb, 4100, 'only residues remain');
    // stops 1 s in parallel + ~1 s until nvidia-smi shows the memory: back within about two seconds.
    assert.equal(p.estimateMs, 2000);
  });

  it('blank → code: loads glm-code and cold-starts vllm-embedding-code in parallel', async () => {
    const p = await planOn(32, 'blank', 'code');
    assert.equal(actions(p)['glm-code'], 'load');
    assert.equal(actions(p)['vllm-embedding-code'], 'start');
    assert.ok(hasNote(p, /vllm-embedding-code must cold-start \(~60 s\): it cannot sleep/));
    assert.equal(p.phases.acquireMs, 60_000, 'the slower of the two, not their sum');
    assert.ok(hasNote(p, /This switch takes about 60 s, mostly the cold start of vllm-embedding-code/), p.notes.join('\n'));
  });

  it('code → code is a no-op with only keep steps', async () => {
    const p = await planOn(32, 'code', 'code');
    assert.equal(p.noop, true);
    assert.ok(p.steps.every((s) => s.action === 'keep'));
    assert.equal(p.estimateMs, 0);
    assert.match(p.notes[0], /Already in code/);
  });

  it('a target service stopped by hand is started even when the mode is current', async () => {
    const p = await planOn(32, 'code', 'code', { overrides: { 'vllm-embedding-code': 'stopped' } });
    assert.equal(p.noop, false);
    assert.equal(actions(p)['vllm-embedding-code'], 'start');
  });

  it('a failed target service is started and the note names the failure', async () => {
    const p = await planOn(32, 'code', 'rag', { overrides: { 'vllm-chat': 'failed' } });
    assert.equal(actions(p)['vllm-chat'], 'start');
    assert.ok(hasNote(p, /vllm-chat must cold-start .*it has failed \(unit failed: exit-code, exit status 1\)/), p.notes.join('\n'));
  });
});

describe('planner on the 24 GB card (profile.md)', () => {
  it('rag → code: stops what does not fit, keeps the most valuable residue, and says why', async () => {
    const p = await planOn(24, 'rag', 'code', { estimates: estimates(profileHistory()) });
    assert.deepEqual(actions(p), {
      'vllm-chat': 'stop',
      'vllm-hyde': 'sleep:l2',
      'vllm-reranker': 'stop',
      'vllm-embedding': 'stop',
      'vllm-embedding-code': 'keep',
      'vllm-tts': 'keep',
      'qwen3-asr': 'keep',
      'glm-code': 'load',
    });
    assert.equal(p.refused, undefined);
    const b = p.budgets[0];
    assert.ok(b.totalMb !== undefined && b.afterMb + b.marginMb <= b.totalMb, JSON.stringify(b));
    assert.ok(hasNote(p, /^vllm-embedding stops: it cannot sleep, and its 3\.0 GB do not fit beside code on this 24 GB card/), p.notes.join('\n'));
    assert.ok(
      hasNote(p, /^vllm-chat stops rather than sleeping: its 1\.5 GB residue does not fit beside code on this 24 GB card; the next time it is needed it cold-starts \(~60 s\)/),
      p.notes.join('\n'),
    );
    assert.ok(hasNote(p, /^vllm-reranker stops rather than sleeping: its 800 MB residue does not fit .* together with the residues kept \(vllm-hyde\)/), p.notes.join('\n'));
  });

  it('with default estimates (every vLLM cold start 60 s) the cheaper residue to keep wins the tie', async () => {
    const p = await planOn(24, 'rag', 'code');
    assert.equal(actions(p)['vllm-reranker'], 'sleep:l2');
    assert.equal(actions(p)['vllm-hyde'], 'stop');
  });

  it('code → rag is mostly cold starts, run in parallel, and the notes say why each is unavoidable', async () => {
    const p = await planOn(24, 'code', 'rag', { estimates: estimates(profileHistory()) });
    assert.deepEqual(actions(p), {
      'vllm-chat': 'start',
      'vllm-hyde': 'wake',
      'vllm-reranker': 'start',
      'vllm-embedding': 'start',
      'vllm-embedding-code': 'keep',
      'vllm-tts': 'keep',
      'qwen3-asr': 'keep',
      'glm-code': 'sleep:router',
    });
    assert.ok(hasNote(p, /^vllm-chat must cold-start \(~60 s\): its 1\.5 GB residue does not fit beside code on this 24 GB card\.$/), p.notes.join('\n'));
    assert.ok(hasNote(p, /^vllm-embedding must cold-start \(~120 s\): it cannot sleep/));
    assert.ok(hasNote(p, /^vllm-reranker must cold-start \(~40 s\): it is stopped: beside code this 24 GB card keeps only 1\.1 GB of sleeping residues, and its 800 MB residue was not among them/));
    assert.equal(p.phases.acquireMs, 120_000, 'parallel: the slowest cold start, not the sum');
    assert.ok(hasNote(p, /This switch takes about 120 s, mostly the cold start of vllm-embedding \(~120 s\)/), p.notes.join('\n'));
  });

  it('code → rag beside a 3 GB foreign process forces vllm-embedding-code to stop, and says why', async () => {
    const p = await planOn(24, 'code', 'rag', { foreignMb: 3000, estimates: estimates(profileHistory()) });
    // rag 18 GB + glm's 300 MB + 3 GB foreign + margin leaves no room for the 3 GB it would keep running.
    assert.equal(actions(p)['vllm-embedding-code'], 'stop');
    assert.ok(hasNote(p, /^vllm-embedding-code stops: it cannot sleep, and its 3\.0 GB do not fit beside rag on this 24 GB card\.$/), p.notes.join('\n'));
    assert.equal(p.refused, undefined);
    assert.equal(p.budgets[0].foreignMb, 3000);
  });

  it('code steady state fits: 23 GB + one residue + margin', async () => {
    const p = await planOn(24, 'code', 'code');
    assert.equal(p.noop, true);
    assert.equal(p.budgets[0].afterMb, 24000);
  });
});

describe('planner budgets', () => {
  it('deepens an L1 sleep to L2 when the host RAM budget cannot hold the weights', async () => {
    const p = await planOn(32, 'rag', 'code', { config: profileConfig({ hostRamMb: 5000 }) });
    assert.equal(actions(p)['vllm-chat'], 'sleep:l2');
    // asr (hook, 1500 MB of RAM) stays asleep; chat at L2 holds none.
    assert.equal(p.ramAfterMb, 1500);
    assert.ok(hasNote(p, /^vllm-chat sleeps at L2 instead of L1: the host RAM budget \(5\.0 GB\) cannot also hold its 4\.5 GB of weights/), p.notes.join('\n'));
  });

  it('stops a sleeper when deepening is not enough for the RAM budget', async () => {
    const p = await planOn(32, 'rag', 'code', { config: profileConfig({ hostRamMb: 1000 }) });
    assert.equal(actions(p)['vllm-chat'], 'sleep:l2');
    assert.equal(actions(p)['qwen3-asr'], 'stop');
    assert.ok(hasNote(p, /^qwen3-asr stops: the host RAM budget \(1\.0 GB\) cannot hold its 1\.5 GB/), p.notes.join('\n'));
    assert.equal(p.ramAfterMb, 0);
  });

  it('refuses with the numbers when the target alone does not fit', async () => {
    const m = machine(32, 'blank');
    m.totals.set(0, 16376);
    const p = plan(m.config, await look(m), 'code', { currentMode: 'blank' });
    assert.ok(p.refused);
    assert.equal(p.refused.neededMb, 23512);
    assert.equal(p.refused.availableMb, 16376);
    assert.equal(
      p.refused.reason,
      'code does not fit on GPU 0 (16 GB card): its services need 23000 MB awake, other processes hold 0 MB, the margin is 512 MB: 23512 MB needed, but the card has 16376 MB (7136 MB short).',
    );
    assert.equal(p.noop, false);
  });

  it('counts foreign processes: a 10 GB foreign process on 32 GB makes code impossible', async () => {
    const p = await planOn(32, 'rag', 'code', { foreignMb: 10_000 });
    assert.ok(p.refused);
    assert.match(p.refused.reason, /other processes hold 10000 MB/);
    assert.equal(p.refused.neededMb, 33_512);
  });

  it('plans without a VRAM check (and says so) when no GPU is visible and no total is configured', async () => {
    const m = machine(24, 'rag');
    m.gpuVisible = false;
    const p = plan(m.config, await look(m), 'code', { currentMode: 'rag' });
    assert.equal(p.budgets[0].totalMb, undefined);
    assert.ok(hasNote(p, /total memory unknown .*planned without a VRAM check/));
    assert.equal(actions(p)['vllm-chat'], 'sleep:l1', 'no budget, no forced stops');
  });

  it('uses budget.gpu_total_mb when no GPU is visible', async () => {
    const config = profileConfig({ gpuTotalMb: 24564 });
    const m = machine(24, 'rag', {}, config);
    m.gpuVisible = false;
    const p = plan(config, await look(m), 'code', { currentMode: 'rag' });
    assert.equal(p.budgets[0].totalMb, 24564);
    assert.equal(actions(p)['vllm-embedding'], 'stop');
  });

  it('keeps budgets per GPU: a service on GPU 1 does not crowd GPU 0', async () => {
    const extra = service('vllm-big', { driver: 'vllm', sleep: 'none', vram: 20_000, residue: 0, ram: 0 }, 7099, { gpu: 1 });
    const config = profileConfig({}, [extra]);
    const m = machine(24, 'rag', {}, config);
    m.totals.set(1, 24564);
    m.set({ 'vllm-big': 'running' });
    const p = plan(config, await look(m), 'code', { currentMode: 'rag' });
    assert.equal(actions(p)['vllm-big'], 'keep');
    assert.deepEqual(
      p.budgets.map((b) => [b.gpu, b.afterMb]),
      [
        [0, 23800],
        [1, 20_000],
      ],
    );
  });

  it('estimates come from history when it has them', async () => {
    const fast = estimates([
      {
        kind: 'switch',
        from: 'code',
        to: 'rag',
        startedAt: 1,
        totalMs: 1,
        ok: true,
        rolledBack: false,
        cancelled: false,
        steps: [{ service: 'vllm-hyde', action: 'wake', depth: 'l2', startMs: 0, ms: 900, result: 'ok', phase: 'acquire' }],
      },
    ]);
    const p = await planOn(32, 'code', 'rag', { estimates: fast });
    assert.equal(p.steps.find((s) => s.service === 'vllm-hyde')?.estimateMs, 900);
    assert.equal(p.phases.acquireMs, 1500, 'the reranker (L2, default 1.5 s) is now the slowest');
  });

  it('rejects an unknown mode', async () => {
    const m = machine(32, 'code');
    assert.throws(() => plan(m.config, { at: 0, services: new Map(), gpu: { available: false, reason: '' }, foreignMb: new Map() }, 'nope'), (e) =>
      isGpumodError(e, 'USAGE'),
    );
  });
});

describe('planner: services sharing a port are alternatives', () => {
  // nemotron: another llama.cpp server (its own unit) on glm-code's port, as the original's presets are.
  function withNemotron(): ReturnType<typeof profileConfig> {
    const glm = profileConfig().services.get('glm-code')!;
    const nemo = service('nemotron', { driver: 'llamacpp', sleep: 'router', vram: 18_000, residue: 300, ram: 0 }, glm.port);
    const config = profileConfig({}, [nemo]);
    config.modes.set('nemo', { name: 'nemo', services: ['nemotron'] });
    return config;
  }

  it('stops the running alternative (never sleeps it: it would keep the port) before starting the other', async () => {
    const config = withNemotron();
    assert.deepEqual(config.services.get('nemotron')?.alternatives, ['glm-code']);
    const p = await planOn(32, 'code', 'nemo', { config, overrides: { nemotron: 'stopped' } });
    assert.equal(actions(p)['glm-code'], 'stop');
    assert.equal(actions(p).nemotron, 'start');
    assert.match(p.steps.find((s) => s.service === 'glm-code')?.reason ?? '', /stops: nemotron \(in nemo\) listens on the same 127\.0\.0\.1:7077, and only one of them can run/);
    assert.equal(p.refused, undefined);
  });

  it('stops an alternative that is only asleep (its router still holds the port), and leaves a stopped one alone', async () => {
    const config = withNemotron();
    const asleep = await planOn(32, 'rag', 'nemo', { config, overrides: { nemotron: 'stopped' } });
    assert.equal(actions(asleep)['glm-code'], 'stop', 'glm-code is unloaded in rag, its router running');
    const back = await planOn(32, undefined, 'code', { config, overrides: { nemotron: 'running', 'glm-code': 'stopped', 'vllm-embedding-code': 'stopped' } });
    assert.equal(actions(back).nemotron, 'stop');
    assert.equal(actions(back)['glm-code'], 'start');
    const stopped = await planOn(32, 'code', 'rag', { config, overrides: { nemotron: 'stopped' } });
    assert.equal(actions(stopped).nemotron, 'keep');
  });
});

describe('planner orphans', () => {
  const scratch = service('scratch-llm', { driver: 'vllm', sleep: 'l1', vram: 2000, residue: 500, ram: 1500 }, 7098);
  const config = (): ReturnType<typeof profileConfig> => profileConfig({}, [scratch]);

  for (const [policy, want] of [
    ['keep', 'keep'],
    ['sleep', 'sleep:l1'],
    ['stop', 'stop'],
  ] as const) {
    it(`orphan policy ${policy}: ${want}, with a note`, async () => {
      const p = await planOn(32, 'code', 'rag', { config: config(), overrides: { 'scratch-llm': 'running' }, orphanPolicy: policy });
      assert.equal(actions(p)['scratch-llm'], want);
      assert.ok(hasNote(p, /^scratch-llm is running but belongs to no mode: orphan policy "/));
    });
  }

  it('an orphan kept by default gives way when the memory is needed', async () => {
    const p = await planOn(24, 'rag', 'code', { config: config(), overrides: { 'scratch-llm': 'running' } });
    assert.equal(actions(p)['scratch-llm'], 'sleep:l1', 'its 2 GB awake do not fit beside code on 24 GB; its 500 MB residue does');
    assert.ok(hasNote(p, /^scratch-llm sleeps rather than staying awake: its 2\.0 GB do not fit beside code on this 24 GB card/), p.notes.join('\n'));
    assert.equal(p.refused, undefined);
  });
});
