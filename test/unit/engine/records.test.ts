import * as assert from 'node:assert/strict';
import { formatMs } from '../../../src/engine/deadline';
import { estimates } from '../../../src/engine/history';
import { describePlan } from '../../../src/engine/planText';
import { asSwitchRecord, asSwitchRecords, asSwitchState } from '../../../src/engine/records';
import type { Plan } from '../../../src/engine/types';
import { profileConfig } from './profile';

const T = Date.UTC(2026, 5, 1);
const step = { service: 'vllm-chat', action: 'wake', phase: 'acquire', depth: 'l1', startMs: 0, ms: 400, result: 'ok' };
const rec = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ kind: 'switch', from: 'a', to: 'b', startedAt: T, totalMs: 500, ok: true, rolledBack: false, cancelled: false, steps: [step], ...over });

describe('engine/records: files are checked when read', () => {
  it('ignores history records dated outside 2000..2200 or with durations below 0 or over a day, and counts them', () => {
    const bad = [rec({ startedAt: 1e20 }), rec({ startedAt: -1 }), rec({ startedAt: 5 }), rec({ totalMs: -1 }), rec({ totalMs: 1e308 }), rec({ estimateMs: 2 * 86_400_000 }), rec({ startedAt: Number.NaN })];
    for (const r of bad) assert.equal(asSwitchRecord(r), undefined, JSON.stringify(r));
    const { records, ignored } = asSwitchRecords([...bad, rec(), 'junk']);
    assert.equal(records.length, 1);
    assert.equal(ignored, 8);
  });

  it('drops steps with out-of-range times from a record it keeps', () => {
    const r = asSwitchRecord(rec({ steps: [step, { ...step, ms: 1e308 }, { ...step, ms: -5 }, { ...step, startMs: 1e300 }] }));
    assert.equal(r?.steps.length, 1);
  });

  it('makes the text of records printable', () => {
    const r = asSwitchRecord(rec({ from: '\x1b[2J\x1b]0;pwned\x07a', to: 'b\u202e', error: 'x\r\ny', service: { a: 1 } }));
    assert.equal(r?.from, 'a');
    assert.equal(r?.to, 'b');
    assert.equal(r?.error, 'xy');
    assert.equal(r?.service, undefined);
  });

  it('keeps an in-progress marker only when its fields have their types; its text is made printable and bounded', () => {
    const base = { mode: 'code', at: 1, services: {} };
    const ok = { from: 'code', to: 'rag', pid: 1234, startedAt: 5, procStart: '99' };
    assert.deepEqual(asSwitchState({ ...base, switching: ok })?.switching, ok);
    for (const broken of [{ ...ok, from: { x: 1 } }, { ...ok, to: 7 }, { ...ok, pid: 1.5 }, { ...ok, pid: -1 }, { ...ok, pid: 1e12 }, { ...ok, startedAt: 'now' }, { ...ok, procStart: 12 }, { ...ok, procStart: '1; rm' }]) {
      const s = asSwitchState({ ...base, switching: broken });
      assert.ok(s, 'the state itself is kept');
      assert.equal(s.switching, undefined, JSON.stringify(broken));
    }
    const dirty = asSwitchState({ ...base, mode: 'co\x1b[31mde', switching: { ...ok, from: null, to: `\x1b[1m${'r'.repeat(5000)}\x07` } });
    assert.equal(dirty?.mode, 'code');
    assert.equal(dirty?.switching?.from, undefined);
    assert.equal(dirty?.switching?.to.length, 200);
    assert.ok(dirty?.switching?.to.startsWith('rrr') && dirty.switching.to.endsWith('…'));
  });
});

describe('engine: estimates and their text are bounded', () => {
  const config = profileConfig();
  const chat = config.services.get('vllm-chat');

  it('a step time of 1e308 (or NaN) in history is not a measurement', () => {
    assert.ok(chat);
    const e = estimates([{ kind: 'switch', from: 'a', to: 'b', startedAt: T, totalMs: 0, ok: true, rolledBack: false, cancelled: false, steps: [{ ...step, ms: 1e308 } as never, { ...step, ms: Number.NaN } as never] }]);
    assert.equal(e.ms(chat, 'wake', 'l1'), 500, 'the default, not 1e308');
  });

  it('formats any duration as a bounded string', () => {
    assert.equal(formatMs(1e308), 'over a day');
    assert.equal(formatMs(Infinity), 'over a day');
    assert.equal(formatMs(Number.NaN), '? ms');
    assert.equal(formatMs(2 * 3_600_000 + 5 * 60_000 + 59_000), '2 h 5 min');
    assert.equal(formatMs(700_000), '11 min 40 s');
    const plan = { from: 'a', to: 'b', noop: false, steps: [{ service: 'vllm-chat', action: 'wake', estimateMs: 1e308, reason: 'r' }], budgets: [], ramAfterMb: 0, notes: [], estimateMs: 1e308 } as unknown as Plan;
    const text = describePlan(plan).join('\n');
    assert.doesNotMatch(text, /e\+/);
    assert.match(text, /estimate over a day/);
  });
});
