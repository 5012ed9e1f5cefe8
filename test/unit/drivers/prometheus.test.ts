import * as assert from 'node:assert/strict';
import { MAX_METRIC_LINES, readSamples } from '../../../src/drivers/prometheus';
import { runningRequests, sleepDepthFromMetrics } from '../../../src/drivers/vllm';

const MIB = 1024 * 1024;

function ms(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

describe('drivers/prometheus readSamples', () => {
  it('reads names, labels (with escapes), values and optional timestamps', () => {
    const text = [
      '# HELP vllm:engine_sleep_state Engine sleep state',
      '# TYPE vllm:engine_sleep_state gauge',
      'vllm:engine_sleep_state{engine="0",model_name="a \\"b\\" \\\\ c",sleep_state="awake"} 0.0',
      'vllm:engine_sleep_state{engine="0",sleep_state="discard_all",} 1 1712345678000',
      'vllm:num_requests_running 2e0\r',
      'other_metric{x="1"} 5',
      'vllm:num_requests_running{engine="1"} +Inf',
      'vllm:num_requests_running{engine="2"} NaN',
    ].join('\n');
    const s = readSamples(text, ['vllm:engine_sleep_state', 'vllm:num_requests_running']);
    assert.deepEqual(
      s.map((x) => [x.name, Object.fromEntries(x.labels), x.value]),
      [
        ['vllm:engine_sleep_state', { engine: '0', model_name: 'a "b" \\ c', sleep_state: 'awake' }, 0],
        ['vllm:engine_sleep_state', { engine: '0', sleep_state: 'discard_all' }, 1],
        ['vllm:num_requests_running', {}, 2],
        ['vllm:num_requests_running', { engine: '1' }, Infinity],
        ['vllm:num_requests_running', { engine: '2' }, NaN],
      ],
    );
  });

  it('skips malformed lines instead of guessing', () => {
    const bad = [
      'vllm:num_requests_running{engine="0" 3', // unclosed labels
      'vllm:num_requests_running{engine="0} 3', // unclosed quote
      'vllm:num_requests_running{1x="0"} 3', // bad label name
      'vllm:num_requests_running 3 4 5', // too many fields
      'vllm:num_requests_running 0x10', // not a Prometheus number
      'vllm:num_requests_running',
      'vllm:num_requests_running_total 7', // another metric with the name as prefix
    ];
    assert.deepEqual(readSamples(bad.join('\n'), ['vllm:num_requests_running']), []);
    assert.equal(runningRequests(bad.join('\n')), undefined);
  });

  it('stops after MAX_METRIC_LINES lines', () => {
    const text = '\n'.repeat(MAX_METRIC_LINES) + 'vllm:num_requests_running 1\n';
    assert.equal(runningRequests(text), undefined);
    assert.equal(readSamples('a 1\na 2\na 3\n', ['a'], 2).length, 2);
  });

  it('ignores non-finite running counts and reads the depth from a gauge at 1 only', () => {
    assert.equal(runningRequests('vllm:num_requests_running NaN\nvllm:num_requests_running{e="1"} 2\n'), 2);
    assert.equal(sleepDepthFromMetrics('vllm:engine_sleep_state{sleep_state="discard_all"} 0.5\n'), undefined);
    assert.equal(sleepDepthFromMetrics('vllm:engine_sleep_state{sleep_state="weights_offloaded"} 1\nvllm:engine_sleep_state{sleep_state="discard_all"} 1.0\n'), 'l2');
  });

  // The old regular expressions ([^}]* across newlines) took 11.6 s on 16,000 such lines, 30-37 s near 1 MiB.
  it('reads the sleep depth and running requests of a hostile 1 MiB body in linear time', () => {
    const lines = (prefix: string): string => `${prefix}\n`.repeat(Math.floor(MIB / (prefix.length + 1)));
    const bodies = [
      lines('vllm:engine_sleep_state{'),
      lines('vllm:num_requests_running{'),
      `vllm:engine_sleep_state{sleep_state="${'x'.repeat(MIB - 64)}`,
      lines('vllm:engine_sleep_state{a="'),
      `vllm:engine_sleep_state{${'a="b",'.repeat(MIB / 6)}`,
      `vllm:num_requests_running ${'1'.repeat(MIB)}`,
    ];
    for (const body of bodies) {
      const took = ms(() => {
        sleepDepthFromMetrics(body);
        runningRequests(body);
      });
      assert.ok(took < 500, `two reads of a ${body.length}-byte body took ${Math.round(took)} ms (budget 250 ms per read per MiB)`);
    }
  });
});
