// The switch files (state.json, history.jsonl) under SIGKILL: this bundle re-runs itself as a child
// (GPUMOD_TEST_CHILD=switch-files-writer) that records switches as fast as it can, and is killed at
// varied moments. stateStore.test.ts covers writeFileAtomic alone; this covers the engine's files.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asSwitchRecord, asSwitchState } from '../../../src/engine/records';
import type { SwitchRecord, SwitchState } from '../../../src/engine/types';
import { createJsonFiles, HISTORY_LIMIT } from '../../../src/system/switchFiles';

const CHILD = 'switch-files-writer';

/** Records are dated: one from 1970 is not a real record and is ignored when read. */
const T0 = Date.UTC(2026, 0, 1);

function record(i: number): SwitchRecord {
  return {
    kind: 'switch',
    from: i % 2 ? 'rag' : 'code',
    to: i % 2 ? 'code' : 'rag',
    startedAt: T0 + i,
    totalMs: 1000 + i,
    ok: true,
    rolledBack: false,
    cancelled: false,
    // A realistic timeline: a dozen steps, so every append rewrites a few hundred KB.
    steps: Array.from({ length: 12 }, (_, k) => ({ service: `svc-${k}`, action: 'wake' as const, phase: 'acquire' as const, startMs: k, ms: 30 + k, result: 'ok' as const })),
  };
}

function state(i: number): SwitchState {
  const services: SwitchState['services'] = {};
  for (let k = 0; k < 50; k++) services[`svc-${k}-${'x'.repeat(200)}`] = { state: 'sleeping', sleep: 'l1' };
  return { mode: i % 2 ? 'code' : 'rag', at: i, services, ...(i % 3 === 0 ? { switching: { from: 'rag', to: 'code', pid: process.pid, startedAt: i } } : {}) };
}

/** Child: a switch's writes (marker, commit, history), over and over, until killed. */
async function writer(dir: string, from: number): Promise<void> {
  const files = createJsonFiles(dir);
  for (let i = from; ; i++) {
    await Promise.all([files.writeState(state(i)), files.appendHistory(record(i))]);
    if (i === from + 3) process.stdout.write('writing\n');
  }
}

if (process.env.GPUMOD_TEST_CHILD === CHILD) {
  void writer(process.env.GPUMOD_TEST_DIR ?? '', Number(process.env.GPUMOD_TEST_FROM ?? 0));
} else {
  describe('reliability: switch files survive a crash mid-write', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'gpumod-rel-files-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** Every line of history.jsonl, parsed strictly (a torn line fails here, not silently skipped). */
    function strictHistory(): SwitchRecord[] {
      const text = readFileSync(join(dir, 'history.jsonl'), 'utf8');
      assert.ok(text.endsWith('\n'), 'history.jsonl does not end with a newline: torn');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l, n) => {
          const r = asSwitchRecord(JSON.parse(l));
          assert.ok(r, `line ${n + 1} is not a switch record`);
          return r;
        });
    }

    it('SIGKILL at varied moments leaves a valid state.json and a whole, ordered history.jsonl every time', async function () {
      this.timeout(120_000);
      let next = 1;
      let lastCount = 0;
      let lastAt = 0;
      for (let round = 0; round < 8; round++) {
        const child = spawn(process.execPath, [__filename], {
          env: { ...process.env, GPUMOD_TEST_CHILD: CHILD, GPUMOD_TEST_DIR: dir, GPUMOD_TEST_FROM: String(next) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        await new Promise<void>((res, rej) => {
          child.stdout.once('data', () => res());
          child.once('exit', (code) => rej(new Error(`the writer exited (${code}) before writing`)));
        });
        await new Promise((r) => setTimeout(r, 3 + round * 11));
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;

        const st = asSwitchState(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')));
        assert.ok(st, `round ${round}: state.json is not a switch state`);
        assert.ok(st.at >= lastAt, `round ${round}: state.json went back in time (${st.at} < ${lastAt})`);
        assert.equal(Object.keys(st.services).length, 50, `round ${round}: a partial state.json`);
        const history = strictHistory();
        assert.ok(history.length >= lastCount || history.length === HISTORY_LIMIT, `round ${round}: records were lost (${history.length} < ${lastCount})`);
        assert.ok(history.length <= HISTORY_LIMIT);
        for (let k = 1; k < history.length; k++) assert.equal(history[k].startedAt, history[k - 1].startedAt + 1, `round ${round}: a gap or a duplicate at line ${k + 1}`);
        assert.ok(history.every((r) => r.steps.length === 12), `round ${round}: a record lost steps`);
        // What the engine reads back is the same.
        const files = createJsonFiles(dir);
        assert.equal((await files.readHistory(HISTORY_LIMIT)).length, history.length);
        assert.ok(asSwitchState(await files.readState()));
        lastCount = history.length;
        lastAt = st.at;
        next = history[history.length - 1].startedAt - T0 + 1;
      }
      assert.ok(lastCount > 8, `the writer hardly wrote (${lastCount} records): the test proves little`);
      // Only the files and, possibly, temporary files of interrupted writes remain.
      for (const name of readdirSync(dir)) assert.match(name, /^(state\.json|history\.jsonl|\.(state\.json|history\.jsonl)\.\d+\.[0-9a-f]+\.tmp)$/);
    });

    it('trims history to the last HISTORY_LIMIT records, oldest first out', async function () {
      this.timeout(60_000);
      const files = createJsonFiles(dir);
      const lines = Array.from({ length: HISTORY_LIMIT + 20 }, (_, i) => JSON.stringify(record(i)));
      writeFileSync(join(dir, 'history.jsonl'), `${lines.join('\n')}\n`);
      await files.appendHistory(record(HISTORY_LIMIT + 20));
      const history = strictHistory();
      assert.equal(history.length, HISTORY_LIMIT);
      assert.equal(history[0].startedAt, T0 + 21);
      assert.equal(history[history.length - 1].startedAt, T0 + HISTORY_LIMIT + 20);
    });

    it('a torn or foreign line is skipped when read and gone after the next append; an unreadable state.json reads as none', async () => {
      const files = createJsonFiles(dir);
      writeFileSync(join(dir, 'history.jsonl'), `${JSON.stringify(record(1))}\n{"kind":"switch","startedAt":2,"tot\n${JSON.stringify(record(3))}\n`);
      assert.deepEqual((await files.readHistory(10)).map((r) => (r as SwitchRecord).startedAt - T0), [1, 3]);
      await files.appendHistory(record(4));
      assert.deepEqual(strictHistory().map((r) => r.startedAt - T0), [1, 3, 4]);
      writeFileSync(join(dir, 'state.json'), '{"mode": "rag", "at": 1, "serv');
      assert.equal(await files.readState(), undefined);
      await files.writeState(state(6));
      assert.equal(asSwitchState(await files.readState())?.at, 6);
    });
  });
}
