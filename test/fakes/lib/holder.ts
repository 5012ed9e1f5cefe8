// A tiny child process that "holds" GPU memory, as real servers hold it in children (vLLM's
// EngineCore, llama.cpp's per-model llama-server). It dies when its stdin closes, so it never
// outlives the fake, even when the fake is SIGKILLed or crashes; it ignores SIGTERM/SIGINT (a
// systemd stop of the whole cgroup, Ctrl-C) and leaves the shutdown to its parent.
import { spawn, type ChildProcess } from 'node:child_process';

function childScript(title: string, listen: boolean): string {
  return [
    `process.title=${JSON.stringify(title)};`,
    // "exit N" on stdin: exit with code N (llama.cpp's router writes an exit command to the child too).
    `let buf='';process.stdin.on('data',(d)=>{buf+=d;const m=/exit (\\d+)/.exec(buf);if(m)process.exit(Number(m[1]));});`,
    `process.stdin.on('end',()=>process.exit(0));process.stdin.on('error',()=>process.exit(0));`,
    // The parent manages its lifetime (so the release it publishes on SIGTERM is not raced by our own exit).
    `process.on('SIGTERM',()=>{});process.on('SIGINT',()=>{});`,
    listen
      ? `const s=require('http').createServer((q,r)=>{r.setHeader('content-type','application/json');r.end('{"status":"ok"}');});s.listen(0,'127.0.0.1',()=>process.stdout.write(s.address().port+'\\n'));`
      : `process.stdout.write('0\\n');`,
    `setInterval(()=>{},1<<30);`,
  ].join('');
}

export interface Holder {
  readonly pid: number;
  /** The port the child listens on (0 when it does not listen). */
  readonly port: number;
  readonly proc: ChildProcess;
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Asks the child to exit with `code` (it does so at once). */
  exit(code: number): void;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * `title` becomes the child's command line as /proc/PID/cmdline shows it (space-joined: a retitled
 * process has one word there), e.g. `llama-server --alias tiny-a --model /m/tiny-a.gguf`.
 */
export function spawnHolder(title: string, opts: { listen?: boolean } = {}): Promise<Holder> {
  const proc = spawn(process.execPath, ['-e', childScript(title, opts.listen ?? false)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.stdin?.on('error', () => undefined); // EPIPE when the child is already gone
  return new Promise<Holder>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      proc.stdout?.off('data', onData);
      proc.stdout?.resume();
      const pid = proc.pid;
      if (pid === undefined) return reject(new Error('holder has no pid'));
      resolve({
        pid,
        port: Number(out.slice(0, nl)) || 0,
        proc,
        exited,
        exit: (code) => {
          if (proc.exitCode === null && proc.signalCode === null) proc.stdin?.write(`exit ${code}\n`);
        },
        kill: (signal = 'SIGKILL') => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
        },
      });
    };
    proc.stdout?.on('data', onData);
    proc.once('error', reject);
    void exited.then((code) => reject(new Error(`holder exited early with ${code}`)));
  });
}
