import { execFile } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(process.cwd(), 'dist/cli.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a real child process, the way a user's shell would. */
export function gpumod(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      // Killed (by the timeout, or a signal): no exit code; never mistaken for success.
      const raw = err ? (err as { code?: unknown }).code : 0;
      const code = typeof raw === 'number' ? raw : 128;
      resolve({ code, stdout, stderr });
    });
  });
}
