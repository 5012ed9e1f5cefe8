import * as assert from 'node:assert/strict';
import { hookState } from '../../../src/drivers/httpHooks';
import { modelStatus } from '../../../src/drivers/llamacpp';
import { runningRequests, sleepDepthFromMetrics, supportsWaitMode } from '../../../src/drivers/vllm';

describe('driver parsers', () => {
  const gauge = (state: string): string =>
    ['awake', 'weights_offloaded', 'discard_all']
      .map((s) => `vllm:engine_sleep_state{engine="0",model_name="m",sleep_state="${s}"} ${s === state ? '1.0' : '0.0'}`)
      .join('\n');

  it('reads the vLLM sleep depth from the engine_sleep_state gauge', () => {
    assert.equal(sleepDepthFromMetrics(gauge('weights_offloaded')), 'l1');
    assert.equal(sleepDepthFromMetrics(gauge('discard_all')), 'l2');
    assert.equal(sleepDepthFromMetrics(gauge('awake')), undefined);
    assert.equal(sleepDepthFromMetrics('# no such metric\n'), undefined);
  });

  it('sums num_requests_running over engines, undefined when absent', () => {
    const m = '# HELP x\nvllm:num_requests_running{engine="0",model_name="m"} 2.0\nvllm:num_requests_running{engine="1",model_name="m"} 1.0\n';
    assert.equal(runningRequests(m), 3);
    assert.equal(runningRequests('vllm:num_requests_waiting 4\n'), undefined);
  });

  it('uses mode=wait only from vLLM 0.17', () => {
    assert.equal(supportsWaitMode('0.16.2'), false);
    assert.equal(supportsWaitMode('0.17.0'), true);
    assert.equal(supportsWaitMode('1.0.0rc1'), true);
    assert.equal(supportsWaitMode(undefined), false);
    assert.equal(supportsWaitMode('dev'), false);
  });

  it('finds a model status in the router GET /models shape, with failed loads', () => {
    const body = { data: [{ id: 'a', status: { value: 'loaded', args: [] } }, { id: 'b', status: { value: 'unloaded', exit_code: 1, failed: true } }], object: 'list' };
    assert.deepEqual(modelStatus(body, 'a'), { value: 'loaded', failed: false, exitCode: undefined });
    assert.deepEqual(modelStatus(body, 'b'), { value: 'unloaded', failed: true, exitCode: 1 });
    assert.equal(modelStatus(body, 'c'), undefined);
    assert.throws(() => modelStatus({ data: 'x' }, 'a'), /no "data" list/);
    assert.throws(() => modelStatus({ data: [{ id: 'a', status: {} }] }, 'a'), /no status.value/);
  });

  it('reads hook probe bodies by loaded, sleeping or state', () => {
    assert.equal(hookState({ loaded: true }), 'awake');
    assert.equal(hookState({ loaded: false, state: 'loading' }), 'loading');
    assert.equal(hookState({ sleeping: true }), 'asleep');
    assert.equal(hookState({ state: 'unloaded' }), 'asleep');
    assert.equal(hookState({ ok: 1 }), undefined);
    assert.equal(hookState(null), undefined);
  });
});
