import { GpumodError, isGpumodError } from '../errors';
import type { Clock } from './ports';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Human-readable duration for messages: 850 ms, 2.6 s, 2 min 5 s, 3 h 20 min; bounded for any input. */
export function formatMs(ms: number): string {
  if (Number.isNaN(ms)) return '? ms';
  if (ms >= DAY_MS) return 'over a day';
  if (ms >= HOUR_MS) return `${Math.floor(ms / HOUR_MS)} h ${Math.floor((ms % HOUR_MS) / 60_000)} min`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 600_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function cancelledError(what: string): GpumodError {
  return new GpumodError('CANCELLED', `${what}: cancelled`);
}

/**
 * Runs `fn` with a signal that aborts when `parent` aborts or `ms` pass, and in any case when the step
 * ends: work `fn` left behind (a health poll raced by a watch that failed first) stops with the step
 * instead of polling until its own deadline. The race does not rely on `fn` honouring its signal: a
 * step that hangs and ignores it is still cut at its deadline.
 */
export async function withDeadline<T>(
  clock: Clock,
  ms: number,
  parent: AbortSignal,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (parent.aborted) throw asCancelled(parent.reason, what);
  const ctl = new AbortController();
  const onParent = (): void => ctl.abort(asCancelled(parent.reason, what));
  parent.addEventListener('abort', onParent, { once: true });
  const timer = new AbortController();
  void clock.sleep(ms, timer.signal).then(
    () => ctl.abort(new GpumodError('DEADLINE', `${what} did not finish within ${formatMs(ms)}`)),
    () => undefined,
  );
  const aborted = new Promise<never>((_, reject) => {
    ctl.signal.addEventListener('abort', () => reject(ctl.signal.reason), { once: true });
  });
  try {
    return await Promise.race([fn(ctl.signal), aborted]);
  } finally {
    timer.abort();
    parent.removeEventListener('abort', onParent);
    ctl.abort(new GpumodError('CANCELLED', `${what}: ended`));
  }
}

function asCancelled(reason: unknown, what: string): GpumodError {
  return isGpumodError(reason) ? reason : cancelledError(what);
}

/** A controller that also aborts when `parent` does (with the parent's reason). */
export function childController(parent: AbortSignal | undefined): AbortController {
  const ctl = new AbortController();
  if (!parent) return ctl;
  if (parent.aborted) ctl.abort(parent.reason);
  else parent.addEventListener('abort', () => ctl.abort(parent.reason), { once: true });
  return ctl;
}
