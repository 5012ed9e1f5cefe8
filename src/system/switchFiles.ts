// The engine's files under $XDG_STATE_HOME/gpumod: state.json (the current mode and any switch in
// progress) and history.jsonl (one switch a line). Both rewritten atomically: a crash mid-write
// leaves the previous valid file, and a torn or foreign line is skipped, never fatal.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readJsonFile, writeFileAtomic, writeJsonFileAtomic } from './stateStore';

/** History is for estimates and the timeline view; a few hundred switches are plenty. */
export const HISTORY_LIMIT = 500;

export interface JsonFiles {
  readState(): Promise<unknown>;
  writeState(value: unknown): Promise<void>;
  appendHistory(value: unknown): Promise<void>;
  readHistory(limit: number): Promise<unknown[]>;
  readonly dir: string;
}

async function readLines(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      /* a torn line from an older, non-atomic writer: skip it */
    }
  }
  return out;
}

export function createJsonFiles(dir: string): JsonFiles {
  const statePath = join(dir, 'state.json');
  const historyPath = join(dir, 'history.jsonl');
  // Appends within one process are serialised so two never read the same old file.
  let chain: Promise<void> = Promise.resolve();
  return {
    dir,
    async readState(): Promise<unknown> {
      try {
        return await readJsonFile(statePath);
      } catch {
        return undefined; // unreadable state is no state: the next observation tells the truth
      }
    },
    writeState: (value) => writeJsonFileAtomic(statePath, value),
    appendHistory(value: unknown): Promise<void> {
      chain = chain.then(async () => {
        const lines = (await readLines(historyPath)).slice(-(HISTORY_LIMIT - 1));
        lines.push(value);
        await writeFileAtomic(historyPath, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      });
      return chain;
    },
    async readHistory(limit: number): Promise<unknown[]> {
      return (await readLines(historyPath)).slice(-limit);
    },
  };
}
