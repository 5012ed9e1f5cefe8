// Files that must survive a crash mid-write: the current mode, the last switch, history.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GpumodError } from '../errors';
import { ifPresent, readRegularFile } from './regularFile';

/**
 * Writes `data` to `path` so that readers see either the old file or the new one, never a torn
 * one: write a temporary file in the same directory, fsync it, rename it over `path`, fsync the
 * directory. The parent directory is created when missing.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  // Make the rename itself durable; not every filesystem lets a directory be fsynced.
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}

export async function writeJsonFileAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** A state file is a few KB; more is not ours. */
export const MAX_STATE_BYTES = 1024 * 1024;

/**
 * The parsed JSON in `path`, or undefined when the file does not exist. Malformed JSON is CONFIG_INVALID
 * naming the file; a FIFO, a device or a file over `maxBytes` is FILE_REFUSED, never read.
 */
export async function readJsonFile(path: string, maxBytes = MAX_STATE_BYTES): Promise<unknown> {
  const buf = await ifPresent(readRegularFile(path, { maxBytes }));
  if (buf === undefined) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (e) {
    throw new GpumodError('CONFIG_INVALID', `${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}
