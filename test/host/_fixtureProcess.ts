// The life of a host-test fixture process (workstationFixture, discoveryFixture): a sandboxed systemd
// user manager, what `bring` sets up in it, one JSON line on stdout for the VS Code server, and the
// teardown when stdin closes or on SIGTERM/SIGINT (also when `bring` fails, exiting 1).
import { sandboxVars, startSandbox, stopSandbox } from '../integration/support/sandbox';

/** `--name value` from the command line, or `dflt`. */
export function fixtureArg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

/** Runs `bring` in a fresh sandbox; what it resolves with is printed; what it registers with `onTeardown` runs last-first at the end. */
export function runFixture(bring: (sandbox: { dir: string; env: Record<string, string> }, onTeardown: (fn: () => Promise<void>) => void) => Promise<object>): void {
  let teardowns: Array<() => Promise<void>> = [];
  let closing = false;
  let dir: string | undefined;
  const close = async (code: number): Promise<void> => {
    if (closing) return;
    closing = true;
    try {
      for (const t of teardowns.reverse()) await t().catch((e: unknown) => process.stderr.write(`fixture: teardown failed: ${String(e)}\n`));
    } finally {
      if (dir) await stopSandbox(dir).catch((e: unknown) => process.stderr.write(`fixture: stopping the sandbox failed: ${String(e)}\n`));
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => void close(0));
  process.on('SIGINT', () => void close(0));
  process.stdin.on('end', () => void close(0));
  process.stdin.resume();
  void (async () => {
    try {
      dir = await startSandbox();
      const info = await bring({ dir, env: sandboxVars(dir) }, (fn) => (teardowns = [...teardowns, fn]));
      process.stdout.write(JSON.stringify(info) + '\n');
    } catch (e) {
      process.stderr.write(`fixture: ${(e as Error).stack}\n`);
      await close(1);
    }
  })();
}
