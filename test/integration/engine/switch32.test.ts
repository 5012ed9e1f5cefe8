// Every transition of the profile's modes on the 32 GB card, with the real processes under the real
// systemd user manager: blank → code → rag → speak → blank → code, code → code, then code → rag with
// services that have slept before, and rag → code → rag in process (switchMode on createMachine's
// ports). Expected memory figures are the profile's (docs/WORKSTATION.md), summed by hand.
import * as assert from 'node:assert/strict';
import { loadConfig } from '../../../src/config/load';
import type { Config } from '../../../src/config/types';
import { switchMode } from '../../../src/engine/switcher';
import { createMachine } from '../../../src/machine';
import { silentLogger } from '../../../src/system/logger';
import { actions, assertVram, byName, nvidiaSmiRuns, startWorkstation, switchAndCheck, type Harness } from './harness';
import { testPort } from '../support/testManager';

describe('engine: switching the 32 GB workstation (real units, CLI)', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startWorkstation('32', testPort(500), { prefix: 'e32-' });
  });
  after(async () => {
    await h?.teardown();
  });

  it('starts with every unit stopped: status says blank and the card is empty', async () => {
    const st = await h.status();
    assert.equal(st.mode, 'blank');
    assert.ok(st.services.every((s) => s.state === 'stopped'), JSON.stringify(st.services));
    assertVram(st, '32', 0);
  });

  it('blank → code: cold-starts glm-code (router + model) and vllm-embedding-code in parallel (23 GB)', async () => {
    const { json } = await switchAndCheck(h, 'code', 23000);
    assert.deepEqual(actions(json), ['start glm-code', 'start vllm-embedding-code']);
    const [glm, emb] = ['glm-code', 'vllm-embedding-code'].map((n) => json.steps.find((s) => s.service === n && s.action === 'start'));
    assert.ok(glm && emb);
    assert.ok(json.plan.notes.some((n) => n.startsWith('vllm-embedding-code must cold-start')), json.plan.notes.join('\n'));
  });

  it('code → rag: unloads glm-code, cold-starts the four rag services, keeps vllm-embedding-code running (21.3 GB)', async () => {
    const { json, after } = await switchAndCheck(h, 'rag', 18000 + 3000 + 300);
    assert.deepEqual(actions(json), ['sleep glm-code(router)', 'start vllm-chat', 'start vllm-embedding', 'start vllm-hyde', 'start vllm-reranker']);
    assert.equal(byName(after).get('vllm-embedding-code')?.state, 'running', 'a service that cannot sleep stays up while the card has room');
  });

  it('rag → speak: hyde and reranker sleep at L2, tts and asr cold-start, chat and embedding are kept (21.6 GB)', async () => {
    const { json, stderr } = await switchAndCheck(h, 'speak', 16500 + 3000 + 1000 + 800 + 300, ['--verbose']);
    assert.deepEqual(actions(json), ['sleep vllm-hyde(l2)', 'sleep vllm-reranker(l2)', 'start qwen3-asr', 'start vllm-tts']);
    // The card already had room for tts and asr: no waiting for the sleeps' memory. The GPU is followed
    // for the whole switch by nvidia-smi's loop mode (one --query-gpu and one --query-compute-apps
    // process); the plan's look and each sleep's proof read its samples, starting no query of their own.
    assert.equal(json.steps.find((s) => s.action === 'wait-free'), undefined, JSON.stringify(json.steps));
    assert.equal(nvidiaSmiRuns(stderr), 2, stderr);
    assert.equal(stderr.split('\n').filter((l) => /> nvidia-smi .*-lms 25 \(watching\)/.test(l)).length, 2, stderr);
  });

  it('speak → blank: what can sleep sleeps, what cannot stops; only residues are left (4.1 GB)', async () => {
    const { json, after } = await switchAndCheck(h, 'blank', 1500 + 1000 + 800 + 500 + 300);
    assert.deepEqual(actions(json), ['sleep qwen3-asr(hook)', 'sleep vllm-chat(l1)', 'stop vllm-embedding', 'stop vllm-embedding-code', 'stop vllm-tts']);
    assert.ok(after.services.every((s) => s.state !== 'running'));
    const wait = json.steps.find((s) => s.action === 'wait-free');
    assert.equal(wait?.result, 'ok', 'blank waits until the card shows the memory back');
  });

  it('blank → code: loads the model into the sleeping router; every residue fits beside code (26.8 GB)', async () => {
    const { json } = await switchAndCheck(h, 'code', 23000 + 1500 + 1000 + 800 + 500);
    assert.deepEqual(actions(json), ['load glm-code', 'start vllm-embedding-code']);
    assert.ok(json.plan.notes.some((n) => n.startsWith('glm-code loads its model')), 'the plan says a llama.cpp load is a reload');
  });

  it('code → code is a no-op: no step, nothing changes', async () => {
    const { json, before, after } = await switchAndCheck(h, 'code', 26800);
    assert.equal(json.noop, true);
    assert.deepEqual(json.steps, []);
    assert.equal(json.total_ms, 0);
    assert.deepEqual(after.services.map((s) => [s.name, s.state, s.sleep]), before.services.map((s) => [s.name, s.state, s.sleep]));
  });

  it('code → rag again: chat, hyde and reranker are woken, not cold-started; vllm-embedding cold-starts (blank stopped it)', async () => {
    const { json } = await switchAndCheck(h, 'rag', 18000 + 3000 + 300 + 500);
    assert.deepEqual(actions(json), ['sleep glm-code(router)', 'start vllm-embedding', 'wake vllm-chat(l1)', 'wake vllm-hyde(l2)', 'wake vllm-reranker(l2)']);
    // The wakes need glm-code's memory: they begin once the card shows it freed.
    const wait = json.steps.find((s) => s.action === 'wait-free');
    assert.equal(wait?.result, 'ok');
    for (const w of json.steps.filter((s) => s.action === 'wake')) assert.ok(w.start_ms >= wait.start_ms + wait.ms, `${w.service} woke before the memory showed freed`);
  });

  describe('in process: switchMode on createMachine(config, log, env).ports', () => {
    let config: Config;
    before(async () => {
      const loaded = await loadConfig(h.ws.configPath);
      assert.ok(loaded.ok);
      config = loaded.config;
    });

    const run = async (target: string): Promise<Awaited<ReturnType<typeof switchMode>>> => {
      const m = createMachine(config, silentLogger, { ...process.env, ...h.env });
      try {
        return await switchMode(config, target, m.ports);
      } finally {
        await m.close();
      }
    };

    it('rag → code keeps vllm-embedding running beside code: the profile\'s 30.1 GB code state (29.8 GB here)', async () => {
      const r = await run('code');
      assert.equal(r.ok, true, r.message);
      assert.equal(r.from, 'rag');
      const did = r.timeline.filter((e) => e.phase === 'release' || e.phase === 'acquire').map((e) => `${e.action} ${e.service}`).sort();
      assert.deepEqual(did, ['load glm-code', 'sleep vllm-chat', 'sleep vllm-hyde', 'sleep vllm-reranker']);
      const st = await h.status();
      assert.equal(st.mode, 'code');
      assert.equal(byName(st).get('vllm-embedding')?.state, 'running');
      assertVram(st, '32', 20000 + 3000 + 3000 + 1500 + 1000 + 800 + 500);
      assert.equal(h.stateFile()?.mode, 'code');
    });

    it('code → rag from there only unloads and wakes: no cold start, no stop, and it is estimated in seconds', async () => {
      const r = await run('rag');
      assert.equal(r.ok, true, r.message);
      const did = r.timeline.filter((e) => e.phase === 'release' || e.phase === 'acquire').map((e) => `${e.action} ${e.service}${e.depth ? `(${e.depth})` : ''}`).sort();
      assert.deepEqual(did, ['sleep glm-code(router)', 'wake vllm-chat(l1)', 'wake vllm-hyde(l2)', 'wake vllm-reranker(l2)']);
      // The three wakes overlap: they run in parallel after the unload.
      const wakes = r.timeline.filter((e) => e.action === 'wake');
      const unload = r.timeline.find((e) => e.action === 'sleep');
      assert.ok(unload && wakes.every((w) => w.startMs >= unload.startMs + unload.ms), 'wakes begin after the unload');
      assert.ok(Math.max(...wakes.map((w) => w.startMs)) < Math.min(...wakes.map((w) => w.startMs + w.ms)), JSON.stringify(wakes));
      assert.ok(r.plan.estimateMs < 10_000, `estimate ${r.plan.estimateMs} ms`);
      const st = await h.status();
      assert.equal(st.mode, 'rag');
      assertVram(st, '32', 18000 + 3000 + 300 + 500);
      const history = await h.history();
      assert.deepEqual([history.at(-1)?.from, history.at(-1)?.to, history.at(-1)?.ok], ['code', 'rag', true]);
    });
  });
});
