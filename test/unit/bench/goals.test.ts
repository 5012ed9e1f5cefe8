// Issue 13's goals as the bench judges them from its figures, and the README section written from
// bench.json (scripts/benchTable.mjs).
import * as assert from 'node:assert/strict';
import { goalLine, goals, type Goal } from '../../bench/_goals';
import type { Card, Row, RowReport } from '../../bench/_report';
// @ts-expect-error: a plain .mjs script without types, bundled by esbuild.
import { benchSection, rewrite } from '../../../scripts/benchSection.mjs';
import { benchJson } from './benchFixture';

const none = { naive: undefined, sequential: undefined, gpumod: undefined };
const empty = { naive: [], sequential: [], gpumod: [] };

function row(card: Card, name: Row, r: Partial<RowReport>): RowReport {
  return {
    card,
    row: name,
    medianMs: none,
    runsMs: empty,
    speedup: undefined,
    ttftMs: none,
    ttftRunsMs: empty,
    ttftSpeedup: undefined,
    overheadMs: undefined,
    overheadBesidesGpuMs: undefined,
    criticalMs: undefined,
    gpuQueryMs: undefined,
    gpuOverheadMs: undefined,
    load: 1.2,
    what: '',
    naiveWhat: '',
    notes: [],
    allAsleep: false,
    slowestWakeMs: 0,
    coldStarts: 0,
    unexplained: [],
    firstRequests: empty,
    ...r,
  };
}

/** A 32 GB run where every goal the bench judges passes. */
function passing(): RowReport[] {
  return [
    row('32', 'code→rag', {
      medianMs: { naive: 27000, sequential: 240, gpumod: 200 },
      speedup: 135,
      ttftMs: { naive: 27100, sequential: 320, gpumod: 280 },
      ttftSpeedup: 96.8,
      overheadMs: 70,
      overheadBesidesGpuMs: 40,
      gpuQueryMs: 30,
      gpuOverheadMs: 30,
      allAsleep: true,
      slowestWakeMs: 160,
    }),
    row('32', 'code→code', { medianMs: { naive: 70, sequential: 50, gpumod: 45 }, overheadMs: 45, overheadBesidesGpuMs: 20, gpuQueryMs: 25, gpuOverheadMs: 25 }),
    row('32', 'full cycle', { medianMs: { naive: 50000, sequential: 34000, gpumod: 30000 }, overheadMs: 900, overheadBesidesGpuMs: 700 }),
  ];
}

const byName = (gs: Goal[], part: string): Goal => {
  const g = gs.find((x) => x.name.includes(part));
  assert.ok(g, `no goal "${part}" in ${gs.map((x) => x.name).join(' | ')}`);
  return g;
};

describe('bench goals', () => {
  it('pass on figures that meet them; a full cycle is no switch for the overhead goals', () => {
    const gs = goals({ rows: passing(), cards: ['32'], packageBytes: 400 * 1024 });
    for (const g of gs) assert.notEqual(g.pass, false, goalLine(g));
    assert.match(byName(gs, 'not counting').detail, /worst 40 ms at 32 GB code→rag \(load 1\.2\)/);
    assert.equal(byName(gs, 'activation').pass, null, 'the host test checks it, not the bench');
    assert.match(goalLine(byName(gs, 'idle polling')), /^---- .*npm run test:host/);
  });

  it('fail each on its own figure', () => {
    const rows = passing();
    const c2r = rows[0];
    const judge = (change: () => void, part: string): Goal => {
      const saved = structuredClone(rows);
      change();
      const g = byName(goals({ rows, cards: ['32'], packageBytes: 400 * 1024 }), part);
      rows.splice(0, rows.length, ...saved);
      return g;
    };
    assert.equal(judge(() => (rows[0].overheadBesidesGpuMs = 51), 'not counting').pass, false);
    assert.equal(judge(() => (rows[1].overheadMs = 81), '≤ 80 ms').pass, false);
    assert.equal(judge(() => (rows[0].medianMs = { ...c2r.medianMs, gpumod: 211 }), 'all asleep').pass, false);
    assert.equal(judge(() => (rows[0].speedup = 99), '≥ 100x').pass, false);
    assert.equal(judge(() => (rows[0].ttftSpeedup = 49), 'first token').pass, false);
    assert.equal(judge(() => (rows[1].medianMs = { naive: 70, sequential: 50, gpumod: 61 }), 'no-op').pass, false);
    assert.equal(judge(() => (rows[0].medianMs = { naive: 27000, sequential: 150, gpumod: 200 }), 'never slower').pass, false);
    assert.equal(byName(goals({ rows, cards: ['32'], packageBytes: 501 * 1024 }), 'package').pass, false);
    assert.equal(byName(goals({ rows, cards: ['32'], packageError: 'vsce failed' }), 'package').pass, false);
    assert.equal(byName(goals({ rows, cards: ['32'], packageSkipped: true }), 'package').pass, null);
  });

  it('24 GB: every cold start must be named in its plan\'s notes', () => {
    const rows = [...passing(), row('24', 'rag→speak', { coldStarts: 1, unexplained: ['vllm-tts'] })];
    assert.equal(byName(goals({ rows, cards: ['32', '24'], packageBytes: 1 }), "plan's notes").pass, false);
    rows[3].unexplained = [];
    assert.equal(byName(goals({ rows, cards: ['32', '24'], packageBytes: 1 }), "plan's notes").pass, true);
  });
});

describe('scripts/benchTable.mjs', () => {
  const bench = benchJson(passing(), goals({ rows: passing(), cards: ['32'], packageBytes: 400 * 1024 }));

  it('writes the machine, the table and the goals between the markers, and nothing else', () => {
    const readme = '# x\n\nbefore\n<!-- bench:start (generated) -->\nold figures\n<!-- bench:end -->\nafter\n';
    const out = rewrite(readme, bench) as string;
    assert.ok(out.startsWith('# x\n\nbefore\n<!-- bench:start (generated) -->\nMeasured on 2026-12-01'));
    assert.ok(out.endsWith('<!-- bench:end -->\nafter\n'));
    assert.doesNotMatch(out, /old figures/);
    assert.match(out, /2 × AMD EPYC 7B13 with 24 GB RAM/);
    assert.match(out, /load average 0\.4 before and 1\.9 after/);
    assert.match(out, /\| 32 GB \| code → rag \| 27\.0 \| 0\.24 \| \*\*0\.20\*\* \| \*\*135x\*\* \| 27\.1 \| \*\*0\.28\*\* \| \*\*97x\*\* \| 70 \(30\) \| 1\.2 \|/);
    assert.match(out, /- \*\*PASS\*\* npm run package ≤ 500 KB: gpumod\.vsix 400\.0 KB/);
    assert.match(out, /- \*\*checked elsewhere\*\* activation/);
    assert.equal(rewrite(out, bench), out, 'rewriting again changes nothing');
  });

  it('says how a run with the cards one after the other was made', () => {
    assert.match(benchSection(bench) as string, /^Measured on 2026-12-01 with `npm run bench` \(profile workstation, time scale 10; /);
    assert.match(benchSection({ ...bench, serial: true }) as string, /^Measured on 2026-12-01 with `npm run bench -- --serial` \(profile workstation, time scale 10, the cards one after the other; /);
  });

  it('refuses a README without markers and a bench.json without the machine', () => {
    assert.throws(() => rewrite('# no markers\n', bench), /no "<!-- bench:start -->"/);
    assert.throws(() => benchSection({ ...bench, machine: undefined }), /predates/);
  });
});
