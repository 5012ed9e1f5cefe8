import { GpumodError } from '../errors';
import type { Clock } from './ports';

/** Wall-clock time for production; tests pass a virtual clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new GpumodError('CANCELLED', 'cancelled'));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new GpumodError('CANCELLED', 'cancelled'));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
