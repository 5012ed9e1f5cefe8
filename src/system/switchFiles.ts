// The engine's files under $XDG_STATE_HOME/gpumod: state.json (the current mode and any switch in
// progress), history.jsonl (one switch a line) and footprints.json (the memory each service was
// measured holding). All rewritten atomically: a crash mid-write
// leaves the previous valid file, and a torn or foreign line is skipped, never fatal.
import { join } from 'node:path';
import { errorMessage } from '../errors';
import type { Logger } from '../engine/logger';
import { ifPresent, readTail } from './regularFile';
import { readJsonFile, writeFileAtomic, writeJsonFileAtomic } from './stateStore';

/** History is for estimates and the timeline view; a few hundred switches are plenty. */
export const HISTORY_LIMIT = 500;
/** Only the end of history.jsonl is read: HISTORY_LIMIT records of a dozen steps are well under this. */
export const HISTORY_TAIL_BYTES = 4 * 1024 * 1024;
/** What a refusal of one of these files adds: they are gpumod's own, so removing one loses nothing that matters. */
const OWN_FILE_HINT = 'gpumod writes this file itself; remove it';

export interface JsonFiles {
  readState(): Promise<unknown>;
  writeState(value: unknown): Promise<void>;
  appendHistory(value: unknown): Promise<void>;
  readHistory(limit: number): Promise<unknown[]>;
  readFootprints(): Promise<unknown>;
  writeFootprints(value: unknown): Promise<void>;
  readonly dir: string;
}

async function readLines(path: string): Promise<unknown[]> {
  const text = (await ifPresent(readTail(path, { maxBytes: HISTORY_TAIL_BYTES, hint: OWN_FILE_HINT }))) ?? '';
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

async function readOrNothing(path: string, what: string, log?: Pick<Logger, 'warn'>): Promise<unknown> {
  try {
    return await readJsonFile(path);
  } catch (e) {
    log?.warn(`ignoring ${what}: ${errorMessage(e)}`);
    return undefined;
  }
}

export function createJsonFiles(dir: string, log?: Pick<Logger, 'warn'>): JsonFiles {
  const statePath = join(dir, 'state.json');
  const historyPath = join(dir, 'history.jsonl');
  const footprintsPath = join(dir, 'footprints.json');
  // Appends within one process are serialised so two never read the same old file; footprint writes
  // so that the last one called is the one left (a switch lets its first one run in the background).
  let chain: Promise<void> = Promise.resolve();
  let footprintWrites: Promise<void> = Promise.resolve();
  return {
    dir,
    // Unreadable state is no state: the next observation tells the truth, the next switch rewrites it.
    readState: () => readOrNothing(statePath, 'the state file', log),
    writeState: (value) => writeJsonFileAtomic(statePath, value),
    // Unreadable footprints are none: the declared figures stand in until the next measurement.
    readFootprints: () => readOrNothing(footprintsPath, 'the footprints file', log),
    writeFootprints(value: unknown): Promise<void> {
      const next = footprintWrites.catch(() => undefined).then(() => writeJsonFileAtomic(footprintsPath, value));
      footprintWrites = next;
      return next;
    },
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
