import * as assert from 'node:assert/strict';
import { stepJson } from '../../../src/agent/reports';
import { progressLine } from '../../../src/engine/stepText';
import type { TimelineEntry } from '../../../src/engine/types';

const end = (entry: TimelineEntry): string | undefined => progressLine({ kind: 'end', entry });

describe('cli: timeline steps in text and JSON', () => {
  it('a skipped step is shown skipped, not failed', () => {
    const line = end({ service: 'gpu', action: 'wait-free', phase: 'wait-free', startMs: 5, ms: 0, result: 'skipped', error: 'no NVIDIA GPU visible' });
    assert.equal(line, '  · wait-free gpu  0 ms  skipped: no NVIDIA GPU visible');
    assert.match(end({ service: 'x', action: 'start', startMs: 0, ms: 900, result: 'failed', error: 'exited' }) ?? '', /^ {2}✗ start x/);
    assert.equal(end({ service: 'x', action: 'wake', depth: 'l1', startMs: 0, ms: 312, result: 'ok' }), '  ✓ wake x (l1)  312 ms');
  });

  it('one snake_case shape for every command', () => {
    const e: TimelineEntry = { service: 'x', action: 'start', phase: 'acquire', startMs: 40, ms: 900, result: 'ok', awaited: true };
    assert.deepEqual(JSON.parse(JSON.stringify(stepJson(e))), { service: 'x', action: 'start', phase: 'acquire', start_ms: 40, ms: 900, result: 'ok', awaited: true });
  });
});
