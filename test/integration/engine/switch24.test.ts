// The same transitions on the 24 GB card (the RTX 4090 the original tool was measured on). Code
// alone takes 23 GB there: beside it only 24564 - 512 - 23000 = 1052 MB of sleeping residues fit,
// so the planner must stop most sleepers and code → rag is mostly cold starts again. The plan must
// say so: every cold start is named in its notes with the reason.
import * as assert from 'node:assert/strict';
import { CARDS } from '../../../demo/profile';
import { actions, assertVram, byName, MARGIN_MB, startWorkstation, switchAndCheck, type Harness, type SwitchJson } from './harness';
import { testPort } from '../support/testManager';

const ROOM_BESIDE_CODE_MB = CARDS['24'].totalMb - MARGIN_MB - 23000;
const RESIDUE_MB: Record<string, number> = { 'vllm-chat': 1500, 'vllm-hyde': 1000, 'vllm-reranker': 800, 'qwen3-asr': 500 };

/** Every service the switch cold-started is named in a note that says it must cold-start. */
function assertColdStartsExplained(json: SwitchJson): void {
  const started = json.steps.filter((s) => s.action === 'start' && s.phase === 'acquire').map((s) => s.service);
  for (const name of started) {
    assert.ok(
      json.plan.notes.some((n) => n.startsWith(`${name} must cold-start`)),
      `no note explains the cold start of ${name}:\n${json.plan.notes.join('\n')}`,
    );
  }
}

describe('engine: switching the 24 GB workstation (real units, CLI)', function () {
  this.timeout(120_000);
  let h: Harness;
  /** The sleepers the planner kept beside code (chosen by their worth; they must fit). */
  let keptBesideCode: string[] = [];

  before(async () => {
    h = await startWorkstation('24', testPort(600), { prefix: 'e24-' });
  });
  after(async () => {
    await h?.teardown();
  });

  it('blank → code: cold-starts glm-code and vllm-embedding-code (23 GB)', async () => {
    const { json } = await switchAndCheck(h, 'code', 23000);
    assert.deepEqual(actions(json), ['start glm-code', 'start vllm-embedding-code']);
    assertColdStartsExplained(json);
  });

  it('code → rag: four cold starts, each explained; vllm-embedding-code still fits beside rag (21.3 GB)', async () => {
    const { json } = await switchAndCheck(h, 'rag', 18000 + 3000 + 300);
    assert.deepEqual(actions(json), ['sleep glm-code(router)', 'start vllm-chat', 'start vllm-embedding', 'start vllm-hyde', 'start vllm-reranker']);
    assertColdStartsExplained(json);
  });

  it('rag → speak: hyde and reranker sleep, tts and asr cold-start (21.6 GB)', async () => {
    const { json } = await switchAndCheck(h, 'speak', 16500 + 3000 + 1000 + 800 + 300);
    assert.deepEqual(actions(json), ['sleep vllm-hyde(l2)', 'sleep vllm-reranker(l2)', 'start qwen3-asr', 'start vllm-tts']);
    assertColdStartsExplained(json);
  });

  it('speak → blank: every residue fits an otherwise empty card (4.1 GB)', async () => {
    const { json } = await switchAndCheck(h, 'blank', 1500 + 1000 + 800 + 500 + 300);
    assert.deepEqual(actions(json), ['sleep qwen3-asr(hook)', 'sleep vllm-chat(l1)', 'stop vllm-embedding', 'stop vllm-embedding-code', 'stop vllm-tts']);
  });

  it('blank → code: stops the sleepers whose residues do not fit beside code, says why, keeps what fits', async () => {
    const { json, after } = await switchAndCheck(h, 'code');
    const now = byName(after);
    keptBesideCode = Object.keys(RESIDUE_MB).filter((n) => now.get(n)?.state === 'sleeping');
    const stopped = Object.keys(RESIDUE_MB).filter((n) => now.get(n)?.state === 'stopped');
    assert.deepEqual([...keptBesideCode, ...stopped].sort(), Object.keys(RESIDUE_MB).sort(), 'each sleeper either stays asleep or is stopped');
    const kept = keptBesideCode.reduce((t, n) => t + RESIDUE_MB[n], 0);
    assert.ok(kept <= ROOM_BESIDE_CODE_MB, `kept ${kept} MB of residues, room is ${ROOM_BESIDE_CODE_MB} MB`);
    assert.ok(keptBesideCode.length >= 1, 'a residue that fits is worth keeping');
    assert.ok(stopped.includes('vllm-chat'), "vllm-chat's 1.5 GB residue cannot fit beside code");
    // Nothing else could have been kept as well: the planner keeps all it can.
    for (const n of stopped) assert.ok(kept + RESIDUE_MB[n] > ROOM_BESIDE_CODE_MB, `${n} would still have fitted`);
    for (const n of stopped) {
      assert.ok(json.plan.notes.some((x) => x.startsWith(`${n} stops`) && /does not fit/.test(x)), `no note on stopping ${n}:\n${json.plan.notes.join('\n')}`);
    }
    assert.deepEqual(
      actions(json),
      ['load glm-code', 'start vllm-embedding-code', ...stopped.map((n) => `stop ${n}`)].sort(),
    );
    assertVram(after, '24', 23000 + kept);
  });

  it('code → code is a no-op', async () => {
    const { json } = await switchAndCheck(h, 'code');
    assert.equal(json.noop, true);
    assert.deepEqual(json.steps, []);
  });

  it('code → rag: the kept residues wake, the rest cold-start, and the plan says why each cannot be a wake', async () => {
    const { json } = await switchAndCheck(h, 'rag');
    const rag = ['vllm-chat', 'vllm-hyde', 'vllm-reranker'];
    const expected = ['sleep glm-code(router)', 'start vllm-embedding'];
    for (const n of rag) expected.push(keptBesideCode.includes(n) ? `wake ${n}(l${n === 'vllm-chat' ? 1 : 2})` : `start ${n}`);
    assert.deepEqual(actions(json), expected.sort());
    assertColdStartsExplained(json);
    assert.ok(
      json.plan.notes.some((n) => n.startsWith('vllm-chat must cold-start') && n.includes('does not fit beside code on this 24 GB card')),
      json.plan.notes.join('\n'),
    );
  });
});
