import * as assert from 'node:assert/strict';
import { undoOf } from '../../../src/engine/rollback';
import type { PlanStep, ServiceState } from '../../../src/engine/types';
import { profileConfig } from './profile';

describe('rollback: back to the state the switch observed', () => {
  const config = profileConfig();
  const chat = config.services.get('vllm-chat')!;
  const glm = config.services.get('glm-code')!;
  const step = (action: PlanStep['action'], fromState: ServiceState, fromSleep?: PlanStep['fromSleep'], depth?: PlanStep['depth']): PlanStep => ({
    service: 'vllm-chat', action, depth, fromState, fromSleep, reason: '', estimateMs: 0, vramAfterMb: 0, gpu: 0, incoming: true,
  });
  const undo = (s: PlanStep, svc = chat): string => {
    const u = undoOf(svc, s);
    return u ? `${u.action}${u.depth ? `:${u.depth}` : ''}` : '-';
  };

  it('returns each service to its observed state, not the inverse of its step', () => {
    const table: Array<[PlanStep, string]> = [
      [step('wake', 'sleeping', 'l1'), 'sleep:l1'],
      [step('wake', 'sleeping', 'l2'), 'sleep:l2'],
      [step('wake', 'waking'), '-'], // it was already on its way up
      [step('start', 'stopped'), 'stop'],
      [step('start', 'failed'), 'stop'],
      [step('start', 'starting'), '-'], // up before the switch: not stopped by its rollback
      [step('start', 'running'), '-'],
      [step('start', 'sleeping', 'l1'), 'sleep:l1'],
      [step('sleep', 'running', undefined, 'l1'), 'wake'],
      [step('stop', 'running'), 'start'],
      [step('stop', 'sleeping', 'l2'), '-'], // a residue dropped to make room is not rebuilt by a cold start
      [step('stop', 'stopped'), '-'],
      [step('keep', 'running'), '-'],
    ];
    assert.deepEqual(table.map(([s]) => undo(s)), table.map(([, u]) => u));
    assert.equal(undo(step('sleep', 'running', undefined, 'router'), glm), 'load');
    assert.equal(undo(step('load', 'sleeping', 'router'), glm), 'sleep:router');
  });
});
