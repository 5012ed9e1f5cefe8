import * as assert from 'node:assert/strict';
import { withDeadline } from '../../../src/engine/deadline';
import { GpumodError, isGpumodError } from '../../../src/errors';
import { FakeClock } from './fakeClock';

describe('withDeadline', () => {
  const parent = (): AbortSignal => new AbortController().signal;

  it('aborts the signal it gave the work when the step ends: failed, done, or cut at its deadline', async () => {
    const clock = new FakeClock();
    const given: AbortSignal[] = [];
    await assert.rejects(
      withDeadline(clock, 300_000, parent(), 'start x', async (s) => {
        given.push(s);
        throw new GpumodError('PROCESS_FAILED', 'x exited during start-up');
      }),
      /exited during start-up/,
    );
    assert.equal(await withDeadline(clock, 300_000, parent(), 'wake x', async (s) => (given.push(s), 'up')), 'up');
    await assert.rejects(
      withDeadline(clock, 1000, parent(), 'sleep x', (s) => (given.push(s), new Promise<never>(() => undefined))),
      (e) => isGpumodError(e, 'DEADLINE'),
    );
    assert.deepEqual(given.map((s) => s.aborted), [true, true, true]);
  });

  it('a poll left behind by a failed step stops with it', async () => {
    const clock = new FakeClock();
    let polls = 0;
    await assert.rejects(
      withDeadline(clock, 300_000, parent(), 'start x', async (s) => {
        const poll = async (): Promise<void> => {
          for (;;) {
            await clock.sleep(200, s);
            polls++;
          }
        };
        void poll().catch(() => undefined);
        await clock.sleep(1000);
        throw new GpumodError('PROCESS_FAILED', 'x exited');
      }),
      /x exited/,
    );
    const at = polls;
    await clock.sleep(10_000);
    assert.equal(polls, at, 'the poll went on after its step ended');
  });
});
