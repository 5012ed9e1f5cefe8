// Issue 17 on real units: the two-card workstation (2 × 24 GB, demo/profile.ts TWO_CARD_PROFILE) with
// services pinned to each card and a 34 GB vLLM spread over both (a worker per card). Every switch is
// checked by switchAndCheck on each card: what nvidia-smi shows, what the plan forecast, every state.
import * as assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { actions, byName, startWorkstation, switchAndCheck, type Harness } from './harness';
import { testPort } from '../support/testManager';

describe('engine: switching the two-card workstation (2 × 24 GB, real units, CLI)', function () {
  this.timeout(180_000);
  let h: Harness;

  before(async () => {
    h = await startWorkstation('2x24', testPort(640), { prefix: 'e2c-' });
  });
  after(async () => {
    await h?.teardown();
  });

  it('blank → code: the coding model on card 0, the embeddings on card 1', async () => {
    const { json } = await switchAndCheck(h, 'code', [20_000, 3000]);
    assert.deepEqual(actions(json), ['start glm-code', 'start vllm-embedding']);
  });

  it('code → large: card 0 makes room for its half (the coding model unloads), card 1 takes the other half beside the embeddings', async () => {
    const { json, after } = await switchAndCheck(h, 'large', [300 + 17_000, 3000 + 17_000]);
    assert.deepEqual(actions(json), ['sleep glm-code(router)', 'start vllm-large']);
    assert.equal(byName(after).get('vllm-large')?.vram_mb, 34_000, 'both workers counted to the unit');
  });

  it('large → rag: the spread model sleeps (its residue on both cards), the rag models start on theirs', async () => {
    const { json } = await switchAndCheck(h, 'rag', [300 + 2500 + 5000, 2500 + 3000 + 3000 + 7000]);
    assert.deepEqual(actions(json), ['sleep vllm-large(l1)', 'start vllm-chat', 'start vllm-hyde', 'start vllm-reranker']);
  });

  it('rag → speak: card 1 alone changes; HyDE on card 0 sleeps', async () => {
    const { json } = await switchAndCheck(h, 'speak', [300 + 2500 + 1000, 2500 + 800 + 3000 + 7000 + 4000 + 2500]);
    assert.deepEqual(actions(json), ['sleep vllm-hyde(l2)', 'sleep vllm-reranker(l2)', 'start qwen3-asr', 'start vllm-tts']);
  });

  it('speak → large: the spread model wakes on both cards; card 1 gives the room (chat and asr sleep, tts stops)', async () => {
    const { json } = await switchAndCheck(h, 'large');
    assert.ok(actions(json).includes('wake vllm-large(l1)'), actions(json).join(', '));
    assert.ok(actions(json).includes('stop vllm-tts'), actions(json).join(', '));
  });

  it('a mode that fits in total but not on card 1 is refused, naming card 1, and nothing is touched', async () => {
    await switchAndCheck(h, 'blank');
    const foreign = join(h.dir, 'gpu', 'foreign.json');
    // Another program takes half of card 1: large needs 20 GB there, and 34 GB over both cards would still fit.
    writeFileSync(foreign, JSON.stringify([{ pid: 999_998, usedMb: 12_000, gpu: 1 }]));
    try {
      const before = await h.status();
      const r = await h.cli(['switch', 'large', '--json']);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stdout + r.stderr, /large does not fit on GPU 1 \(24 GB card\)/);
      const after = await h.status();
      assert.deepEqual(
        after.services.map((s) => [s.name, s.state]),
        before.services.map((s) => [s.name, s.state]),
        'nothing touched',
      );
    } finally {
      rmSync(foreign, { force: true });
    }
  });
});
