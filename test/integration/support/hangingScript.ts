// A child that will not end by itself, the way a wedged nvidia-smi behind a wrapper script does not.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Alive and not a zombie (an orphan nobody reaped yet counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * A wrapper like a stuck nvidia-smi behind a script: grandchildren that keep stdout open, one of them
 * deaf to SIGTERM, and a foreground sleep. Every PID it starts is appended to `pids`.
 */
export function hangingScript(dir: string, pids: string, opts: { exitEarly?: boolean } = {}): string {
  const file = join(dir, 'hang.sh');
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      `echo $$ >> '${pids}'`,
      'sleep 60 &',
      `echo $! >> '${pids}'`,
      `sh -c 'trap "" TERM; echo $$ >> "$1"; i=0; while [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done' deaf '${pids}' &`,
      `sh -c 'echo $$ >> "$1"; exec sleep 60' sleeper '${pids}' &`,
      opts.exitEarly ? 'exit 0' : 'sleep 60',
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

export function pidsIn(file: string): number[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}
