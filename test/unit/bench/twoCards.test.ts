// The bench's two-card section (test/bench/_twoCards.ts): its rows from the laps' runs, its printed
// table, and its table in the README section (scripts/benchSection.mjs).
import * as assert from 'node:assert/strict';
import { TWO_CARD_PROFILE } from '../../../demo/profile';
import type { LatencyModel } from '../../bench/_latency';
import type { Run } from '../../bench/_strategies';
import { FULL_LAP, TWO_CARD_LAP, twoCardRows, twoCardText, type TwoCardFigures } from '../../bench/_twoCards';
// @ts-expect-error: a plain .mjs script without types, bundled by esbuild.
import { benchSection } from '../../../scripts/benchSection.mjs';
import { benchJson } from './benchFixture';

const model: LatencyModel = { services: TWO_CARD_PROFILE, timeScale: 10, spawnMs: {}, holderMs: 0, readiness: new Set() };

function run(strategy: 'naive' | 'gpumod', from: string, to: string, wallMs: number, steps: Run['steps'] = []): Run {
  return { strategy, from, to, wallMs, steps, waitedForFreed: false, gpuQueryMs: 10, waitFreeMs: 0, gpuQueryInWaitMs: 0, notes: [], endedAt: 0, load: 1 };
}

const legs = TWO_CARD_LAP.slice(0, -1).map((from, i) => [from, TWO_CARD_LAP[i + 1]] as const);
const lap = (s: 'naive' | 'gpumod', ms: (i: number) => number): Run[] => legs.map(([f, t], i) => run(s, f, t, ms(i)));

describe('bench: two cards', () => {
  it('laps from blank through the demo route and back', () => {
    assert.deepEqual(TWO_CARD_LAP, ['blank', 'code', 'large', 'rag', 'speak', 'large', 'blank']);
  });

  it('a row per leg and one for the full lap: medians, speed-up, overhead beside the critical path', () => {
    const naive = [lap('naive', (i) => 10000 + i)];
    const gpumod = [lap('gpumod', () => 900), lap('gpumod', () => 1000), lap('gpumod', () => 1100)];
    // code → large: glm-code unloads (router), vllm-large wakes from L1 (1500 ms of the fake at time scale 10).
    gpumod[1][1] = run('gpumod', 'code', 'large', 1000, [{ service: 'vllm-large', action: 'wake', depth: 'l1' }]);
    const rows = twoCardRows(model, TWO_CARD_LAP, naive, gpumod);
    assert.deepEqual(rows.map((r) => r.transition), ['blank→code', 'code→large', 'large→rag', 'rag→speak', 'speak→large', 'large→blank', FULL_LAP]);
    assert.equal(rows[0].medianMs.naive, 10000);
    assert.equal(rows[0].medianMs.gpumod, 1000);
    assert.deepEqual(rows[0].runsMs.gpumod, [900, 1000, 1100]);
    assert.equal(rows[0].speedup, 10);
    assert.equal(rows[0].overheadMs, 1000, 'no steps: all of it is overhead');
    assert.equal(rows[0].gpuOverheadMs, 10);
    // The wake's 150 ms are the critical path of that run: overheads 900, 850, 1100.
    assert.equal(rows[1].overheadMs, 900);
    assert.equal(rows[1].what, 'nothing');
    const full = rows[rows.length - 1];
    assert.equal(full.medianMs.naive, 6 * 10000 + 15);
    assert.equal(full.medianMs.gpumod, 6000);
    assert.equal(full.overheadMs, 6000 - 150, 'the middle lap, less its wake');
    assert.equal(full.gpuOverheadMs, 60, 'summed over the legs');
  });

  it('a lap cut short counts its legs, not a full lap', () => {
    const rows = twoCardRows(model, TWO_CARD_LAP, [lap('naive', () => 5000).slice(0, 2)], [lap('gpumod', () => 500)]);
    assert.equal(rows[0].medianMs.naive, 5000);
    assert.equal(rows[2].medianMs.naive, undefined);
    assert.equal(rows[2].speedup, undefined);
    assert.equal(rows[rows.length - 1].medianMs.naive, undefined);
    assert.equal(rows[rows.length - 1].medianMs.gpumod, 3000);
  });

  const figures = (): TwoCardFigures => ({
    cards: '2x24',
    timeScale: 10,
    lap: TWO_CARD_LAP,
    runs: 3,
    naiveRuns: 1,
    rows: twoCardRows(model, TWO_CARD_LAP, [lap('naive', () => 12000)], [lap('gpumod', () => 400)]),
  });

  it('prints a table with the section line', () => {
    const text = twoCardText(figures());
    assert.match(text, /^two cards \(2 × 24 GB, profile 2x24 at time scale 10; lap blank → code → large → rag → speak → large → blank; naive: 1 run; gpumod: median of 3 laps/);
    assert.match(text, /\nblank→code\s+12\.0\s+0\.40\s+30x\s+400\s+10\s+1\.0\s+nothing/);
    assert.match(text, /\nfull lap\s+72\.0\s+2\.40\s+30x/);
  });

  describe('README (scripts/benchSection.mjs)', () => {
    const bench = benchJson([], []);

    it('adds a second table with two-card figures', () => {
      const out = benchSection({ ...bench, twoCards: figures() }) as string;
      assert.match(out, /\nTwo 24 GB cards .*lap blank → code → large → rag → speak → large → blank \(stop\/start: 1 run; gpumod: median of 3 laps after a warm-up lap\):\n\n\| transition \| stop\/start s \| gpumod s \|/);
      assert.match(out, /\n\| code → large \| 12\.0 \| 0\.40 \| 30x \| 400 \(10\) \| 1\.0 \|\n/);
      assert.match(out, /\n\| full lap \| 72\.0 \| 2\.40 \| 30x \| 2400 \(60\) \| 1\.0 \|\n/);
    });

    it('leaves the section as it was without them', () => {
      const before = benchSection(bench) as string;
      assert.equal(benchSection({ ...bench, twoCards: null }), before);
      assert.equal(benchSection({ ...bench, twoCards: { rows: [] } }), before);
      assert.doesNotMatch(before, /Two 24 GB cards/);
    });
  });
});
