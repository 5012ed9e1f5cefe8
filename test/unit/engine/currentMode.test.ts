import * as assert from 'node:assert/strict';
import { currentMode, modeLabel } from '../../../src/engine/currentMode';
import { look, machine } from './profile';

describe('currentMode', () => {
  it('the recorded mode, when all its services are observed running', async () => {
    const m = machine(32, 'code');
    assert.deepEqual(currentMode(m.config, await look(m), 'code'), { mode: 'code', drift: [] });
  });

  it('without a record: the only mode whose services all run (others may run beside it)', async () => {
    // On 32 GB, code keeps vllm-embedding running beside it.
    const m = machine(32, 'code');
    assert.equal(currentMode(m.config, await look(m)).mode, 'code');
  });

  it('never trusts the record over what is observed', async () => {
    const m = machine(32, 'rag');
    assert.deepEqual(currentMode(m.config, await look(m), 'code'), { mode: 'rag', drift: ['code: glm-code is sleeping (router)'] });
  });

  it('the mode whose service set equals the running set', async () => {
    const m = machine(32, undefined, { 'vllm-tts': 'running', 'qwen3-asr': 'running', 'vllm-embedding': 'running', 'vllm-chat': 'running' });
    assert.equal(currentMode(m.config, await look(m)).mode, 'speak');
  });

  it('blank when nothing runs (residues do not count)', async () => {
    const m = machine(32, 'blank');
    assert.equal(currentMode(m.config, await look(m)).mode, 'blank');
  });

  it('undefined with a drift list when the record no longer holds and nothing matches', async () => {
    const m = machine(32, 'rag', { 'vllm-hyde': 'l2', 'vllm-chat': 'failed' });
    const c = currentMode(m.config, await look(m), 'rag');
    assert.equal(c.mode, undefined);
    assert.deepEqual(c.drift, ['rag: vllm-hyde is sleeping (l2)', 'rag: vllm-chat is failed: unit failed: exit-code, exit status 1']);
  });

  it('undefined when two modes are equally complete', async () => {
    const m = machine(32, undefined, {
      'vllm-tts': 'running',
      'qwen3-asr': 'running',
      'vllm-embedding': 'running',
      'vllm-chat': 'running',
      'vllm-hyde': 'running',
      'vllm-reranker': 'running',
    });
    const c = currentMode(m.config, await look(m));
    assert.equal(c.mode, undefined);
    assert.match(c.drift[0], /no mode has exactly these services/);
  });
});

describe('currentMode: services asleep for idleness (the gateway)', () => {
  it('count in their mode while observed asleep, and are named', async () => {
    const m = machine(32, 'rag', { 'vllm-chat': 'l1' });
    const c = currentMode(m.config, await look(m), 'rag', ['vllm-chat']);
    assert.deepEqual(c, { mode: 'rag', drift: [], idle: ['vllm-chat'] });
    assert.equal(modeLabel(c.mode, c.idle), 'rag (vllm-chat idle, asleep)');
  });

  it('an idle name does not keep a mode whose service is stopped (only asleep counts), nor one without the record', async () => {
    const stopped = machine(32, 'rag', { 'vllm-chat': 'stopped' });
    const c = currentMode(stopped.config, await look(stopped), 'rag', ['vllm-chat']);
    assert.equal(c.mode, undefined);
    assert.equal(c.idle, undefined);
    const asleep = machine(32, 'rag', { 'vllm-chat': 'l1' });
    assert.equal(currentMode(asleep.config, await look(asleep), 'rag').mode, undefined, 'asleep without the idle record: drift, not rag');
  });

  it('modeLabel: plain without idle services', () => {
    assert.equal(modeLabel('rag', []), 'rag');
    assert.equal(modeLabel(undefined, ['x']), undefined);
    assert.equal(modeLabel('rag', ['a', 'b']), 'rag (a, b idle, asleep)');
  });
});
