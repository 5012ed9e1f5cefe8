import * as assert from 'node:assert/strict';

/** Polls `check` every 100 ms until it gives a value; fails the test naming what it waited for. */
export async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 30000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
