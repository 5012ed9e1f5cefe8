import * as assert from 'node:assert/strict';
import { hookState } from '../../../src/drivers/httpHooks';
import { modelStatus, offeredModels } from '../../../src/drivers/llamacpp';
import { MAX_JSON_DEPTH, parseServerJson } from '../../../src/drivers/common';
import { isGpumodError } from '../../../src/errors';
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

  it('reads no state from prototype keys (a Map, not an object literal)', () => {
    for (const state of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) assert.equal(hookState({ state }), undefined, state);
    assert.equal(hookState(JSON.parse('{"__proto__":{"loaded":true}}')), undefined);
  });

  it('lists offered models boundedly, whatever the ids are', () => {
    assert.equal(offeredModels([null, { id: { toString: 1 } }, { id: 'a\nb' }, 7]), '?, ?, a\\nb, ?');
    const many = offeredModels(Array.from({ length: 1000 }, (_, i) => ({ id: `m${i}` })));
    assert.match(many, /^m0, m1, .*, m19 and 980 more$/);
    assert.ok(offeredModels([{ id: 'x'.repeat(100_000) }]).length <= 100);
  });

  it('refuses server JSON nested deeper than MAX_JSON_DEPTH before parsing it', () => {
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    assert.deepEqual(parseServerJson(`{"s":"${'['.repeat(1000)}"}`), { s: '['.repeat(1000) });
    assert.ok(Array.isArray(parseServerJson(deep(MAX_JSON_DEPTH))));
    assert.throws(() => parseServerJson(deep(MAX_JSON_DEPTH + 1)), (e: unknown) => isGpumodError(e, 'HTTP_BAD_RESPONSE') && /nested deeper than 64/.test(e.message));
  });
});
