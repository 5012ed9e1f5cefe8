// Starts a bundled fake (out/test/fakes/NAME.js) as a child process for tests, with --port 0, and
// resolves once it prints `listening on PORT`. Every fake started here is killed at process exit.
// The fake nvidia-smi is no bundle but a script run as is: `fakeBin('nvidia-smi')`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export type FakeName = 'vllm' | 'llamaRouter' | 'hookServer' | 'plainServer';
export type FakeBin = 'nvidia-smi';

export interface RunningFake {
  port: number;
  url: string;
  proc: ChildProcess;
  pid: number;
  /** Everything the fake printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (null after a signal). */
  exited: Promise<number | null>;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** out/test/fakes/NAME.js, found from this bundle's location (any depth under out/) or GPUMOD_FAKES_DIR. */
export function fakePath(name: FakeName): string {
  if (process.env.GPUMOD_FAKES_DIR) return join(process.env.GPUMOD_FAKES_DIR, `${name}.js`);
  for (let dir = __dirname; ; dir = dirname(dir)) {
    for (const candidate of [join(dir, 'fakes', `${name}.js`), join(dir, 'test', 'fakes', `${name}.js`), join(dir, 'out', 'test', 'fakes', `${name}.js`)]) {
      if (existsSync(candidate)) return candidate;
    }
    if (dirname(dir) === dir) break;
  }
  return resolve(process.cwd(), 'out', 'test', 'fakes', `${name}.js`);
}

/** test/fakes/bin/NAME (an executable script), found from this bundle's location or the working directory. */
export function fakeBin(name: FakeBin): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fakes', 'bin', name);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  return resolve(process.cwd(), 'test', 'fakes', 'bin', name);
}

export function startFake(name: FakeName, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunningFake> {
  const proc = spawn(process.execPath, [fakePath(name), '--port', '0', ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) =>
    proc.once('exit', (code) => {
      running.delete(proc);
      res(code);
    }),
  );
  return new Promise<RunningFake>((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`${name} did not listen within ${opts.timeoutMs ?? 10000} ms:\n${out}`));
    }, opts.timeoutMs ?? 10000);
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`${name} exited with ${code} before listening:\n${out}`));
    });
    const onData = (): void => {
      const m = /^listening on (\d+)$/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      const port = Number(m[1]);
      res({
        port,
        url: `http://127.0.0.1:${port}`,
        proc,
        pid: proc.pid ?? 0,
        output: () => out,
        exited,
        stop: async (signal = 'SIGTERM', graceMs = 5000) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
          proc.kill(signal);
          const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
          const code = await exited;
          clearTimeout(t);
          return code;
        },
      });
    };
    proc.stdout?.on('data', onData);
  });
}
