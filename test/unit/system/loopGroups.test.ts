import * as assert from 'node:assert/strict';
import { LineGroups, splitStamp, type LineGroup } from '../../../src/system/loopGroups';

describe('loop mode blocks', () => {
  it('splits the timestamp cell off a line and refuses a line without one', () => {
    assert.deepEqual(splitStamp('2026/12/01 08:10:11.123, 0, GPU-x, 100'), { stamp: '2026/12/01 08:10:11.123', rest: '0, GPU-x, 100' });
    assert.equal(splitStamp('timestamp, index, memory.used [MiB]'), undefined);
    assert.equal(splitStamp('Failed to initialize NVML: Driver/library version mismatch'), undefined);
  });

  it('ends a block at the next stamp, at the expected count, or when settled', () => {
    const got: LineGroup[] = [];
    const g = new LineGroups((x) => got.push(x));
    g.push('2026/12/01 08:10:11.100, a', 1);
    g.push('2026/12/01 08:10:11.100, b', 2);
    assert.equal(got.length, 0);
    g.push('2026/12/01 08:10:11.150, c', 3);
    assert.deepEqual(got.map((x) => [x.stamp, x.lines, x.at]), [['2026/12/01 08:10:11.100', ['a', 'b'], 2]]);
    assert.ok(g.pending);
    g.settle();
    assert.deepEqual(got[1].lines, ['c']);
    assert.ok(!g.pending);

    const counted: LineGroup[] = [];
    const two = new LineGroups((x) => counted.push(x), 2);
    two.push('2026/12/01 08:10:11.100, gpu0', 1);
    assert.equal(counted.length, 0);
    two.push('2026/12/01 08:10:11.100, gpu1', 1);
    assert.deepEqual(counted[0].lines, ['gpu0', 'gpu1']);
  });

  it('ignores lines without a stamp (a header printed once)', () => {
    const got: LineGroup[] = [];
    const g = new LineGroups((x) => got.push(x));
    assert.equal(g.push('timestamp, gpu_uuid, pid, used_gpu_memory [MiB]', 0), false);
    assert.ok(!g.pending);
  });
});
