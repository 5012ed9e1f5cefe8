import type { Logger } from '../../../src/engine/logger';

/** A Logger that keeps every line, for tests that count the `> command [ms]` line each process logs. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (m: string | Error): void => void lines.push(String(m));
  return { lines, trace: add, debug: add, info: add, warn: add, error: add };
}
