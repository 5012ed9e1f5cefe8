import * as assert from 'node:assert/strict';
import { currentMode } from '../../../src/engine/currentMode';
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
