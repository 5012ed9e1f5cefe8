import { GpumodError } from '../../../src/errors';
import type { Clock } from '../../../src/engine/ports';

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

/**
 * Virtual time that advances by itself: whenever every promise has settled (one setImmediate after
 * the microtask queue drains), it jumps to the earliest timer. A switch with 60 s cold starts runs in
 * milliseconds, and durations in the timeline are exact.
 */
export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];
  private pumping = false;

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new GpumodError('CANCELLED', 'cancelled'));
        return;
      }
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(new GpumodError('CANCELLED', 'cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
      this.pump();
    });
  }

  /** Calls `fn` at virtual time `at` (for cancelling a switch midway, say). */
  at(at: number, fn: () => void): void {
    void this.sleep(Math.max(0, at - this.t)).then(fn);
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const tick = (): void => {
      setImmediate(() => {
        if (this.timers.length === 0) {
          this.pumping = false;
          return;
        }
        this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = this.timers.shift() as Timer;
        this.t = Math.max(this.t, next.at);
        next.fire();
        tick();
      });
    };
    tick();
  }
}
