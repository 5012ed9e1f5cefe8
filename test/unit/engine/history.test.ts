import * as assert from 'node:assert/strict';
import { defaultEstimateMs, estimates, median } from '../../../src/engine/history';
import type { SwitchRecord, TimelineEntry } from '../../../src/engine/types';
import { profileConfig } from './profile';

const config = profileConfig();
const svc = (n: string) => config.services.get(n)!;

function rec(startedAt: number, steps: Partial<TimelineEntry>[]): SwitchRecord {
  return {
    kind: 'switch',
    from: 'a',
    to: 'b',
    startedAt,
    totalMs: 0,
    ok: true,
    rolledBack: false,
    cancelled: false,
    steps: steps.map((s) => ({ service: 'vllm-chat', action: 'wake', startMs: 0, ms: 0, result: 'ok', phase: 'acquire', ...s })),
  };
}

describe('history estimates', () => {
  it('median', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 3); // (2 + 3) / 2 rounded
    assert.equal(median([7]), 7);
  });

  it('falls back to profile-like defaults per driver, not to the startup timeout', () => {
    const e = estimates([]);
    assert.equal(e.ms(svc('vllm-chat'), 'start'), 60_000);
    assert.equal(e.ms(svc('vllm-chat'), 'wake', 'l1'), 500);
    assert.equal(e.ms(svc('vllm-hyde'), 'wake', 'l2'), 1500);
    assert.equal(e.ms(svc('glm-code'), 'load', 'router'), 20_000);
    assert.equal(e.ms(svc('qwen3-asr'), 'wake', 'hook'), 2000);
    assert.equal(e.ms(svc('vllm-tts'), 'stop'), 1000);
    assert.equal(e.ms(svc('vllm-chat'), 'sleep', 'l1'), 300);
    assert.equal(e.ms(svc('vllm-chat'), 'ready'), 300, 'a readiness request is configured');
    assert.equal(e.ms(svc('vllm-hyde'), 'ready'), 0);
    assert.equal(defaultEstimateMs(svc('vllm-chat'), 'keep'), 0);
  });

  it('takes the median of the last N runs per (service, action), newest last', () => {
    const history = [rec(1, [{ ms: 9000 }]), rec(2, [{ ms: 400 }]), rec(3, [{ ms: 600 }]), rec(4, [{ ms: 500 }])];
    assert.equal(estimates(history, 3).ms(svc('vllm-chat'), 'wake'), 500);
    assert.equal(estimates([...history].reverse(), 3).ms(svc('vllm-chat'), 'wake'), 500, 'order of records does not matter');
    assert.equal(estimates(history, 10).ms(svc('vllm-chat'), 'wake'), 550);
  });

  it('tells wakes apart by depth, and ignores failed steps and rollback steps', () => {
    const history = [
      rec(1, [
        { ms: 2600, depth: 'l2' },
        { ms: 300, depth: 'l1' },
        { ms: 99_999, depth: 'l1', result: 'failed' },
        { ms: 88_888, depth: 'l1', phase: 'rollback' },
        { ms: 61_000, action: 'start' },
      ]),
    ];
    const e = estimates(history);
    assert.equal(e.ms(svc('vllm-chat'), 'wake', 'l1'), 300);
    assert.equal(e.ms(svc('vllm-chat'), 'wake', 'l2'), 2600);
    assert.equal(e.ms(svc('vllm-chat'), 'start'), 61_000);
    assert.equal(e.ms(svc('vllm-hyde'), 'start'), 60_000, 'other services keep their defaults');
  });

  it('tells sleeps apart by depth: an L1 sleep (weights to RAM) is no estimate of an L2 one', () => {
    const history = [rec(1, [{ action: 'sleep', ms: 4000, depth: 'l1' }, { action: 'sleep', ms: 200, depth: 'l2' }])];
    const e = estimates(history);
    assert.equal(e.ms(svc('vllm-chat'), 'sleep', 'l1'), 4000);
    assert.equal(e.ms(svc('vllm-chat'), 'sleep', 'l2'), 200);
  });

  it('does not count a start (wake) that only awaited one already under way', () => {
    const history = [
      rec(1, [
        { action: 'start', ms: 3000, awaited: true },
        { action: 'wake', ms: 100, depth: 'l1', awaited: true },
      ]),
    ];
    const e = estimates(history);
    assert.equal(e.ms(svc('vllm-chat'), 'start'), 60_000);
    assert.equal(e.ms(svc('vllm-chat'), 'wake', 'l1'), 500);
  });

  it('counts steps that finished and were later rolled back as measurements', () => {
    const e = estimates([rec(1, [{ ms: 700, depth: 'l1', result: 'rolled-back' }])]);
    assert.equal(e.ms(svc('vllm-chat'), 'wake', 'l1'), 700);
  });
});
