import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../engine/logger';
import { createGpu } from '../system/gpu';
import { createHttpClient, type ClosableHttpClient } from '../system/http';
import type { Env } from '../system/process';
import { readRegularFile } from '../system/regularFile';
import { createSystemd } from '../system/systemd';
import type { DetectPorts, DirEntry } from './detect';

/** A models dir is a few dozen entries; a home directory passed by mistake is not walked. */
const MAX_ENTRIES = 1000;

/** The real machine behind discovery, for the CLI and the extension. Close it when done. */
export function createDetectPorts(log: Logger, env: Env = process.env): DetectPorts & { http: ClosableHttpClient } {
  return {
    systemd: createSystemd(log, { env, defaultTimeoutMs: 20_000 }),
    gpu: createGpu(log, { env }),
    // Loopback only: discovery never calls another host.
    http: createHttpClient(log, { allowedHosts: [] }),
    files: {
      async readText(path, maxBytes) {
        try {
          return (await readRegularFile(path, { maxBytes })).toString('utf8');
        } catch {
          return undefined;
        }
      },
      async list(dir) {
        try {
          const names = (await readdir(dir)).slice(0, MAX_ENTRIES);
          // stat, not lstat: model files are often symbolic links into a download cache.
          const entries = await Promise.all(
            names.map(async (name): Promise<DirEntry | undefined> => {
              const st = await stat(join(dir, name)).catch(() => undefined);
              return st ? { name, dir: st.isDirectory(), bytes: st.isFile() ? st.size : 0 } : undefined;
            }),
          );
          return entries.filter((e): e is DirEntry => e !== undefined);
        } catch {
          return undefined;
        }
      },
    },
    log,
    home: env.HOME || homedir(),
  };
}
