// Reads of files someone else may have replaced: a FIFO blocks a read forever, /dev/zero fills memory
// and a huge file overflows a string. Only regular files are read, and never more than a bound.
import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, stat, type FileHandle } from 'node:fs/promises';
import { GpumodError } from '../errors';

export interface ReadLimits {
  /** A larger file is refused (readRegularFile) or only its end is read (readTail). */
  maxBytes: number;
  /** Refuse a symbolic link at `path` instead of following it (for files gpumod alone creates). */
  noFollow?: boolean;
  /** Appended to a refusal, e.g. "remove it". */
  hint?: string;
}

/** What a file is, in words for a message. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symbolic link';
  return 'special file';
}

function refused(path: string, what: string, limits: ReadLimits): GpumodError {
  return new GpumodError('FILE_REFUSED', `${path} is ${what}${limits.hint ? `: ${limits.hint}` : ''}`);
}

async function refuseUnlessRegular(path: string, st: Stats, limits: ReadLimits): Promise<void> {
  if (st.isSymbolicLink()) {
    const target = await readlink(path).catch(() => '?');
    throw refused(path, `a symbolic link (to ${target}), not a regular file`, limits);
  }
  if (!st.isFile()) throw refused(path, `a ${fileKind(st)}, not a regular file`, limits);
}

/**
 * Opens a regular file for reading. It is looked at before the open, so a device is never opened at
 * all, and again through the descriptor, so a file swapped in between is caught too; O_NONBLOCK keeps
 * the open of a FIFO swapped in between from blocking. ENOENT is thrown as is.
 */
async function openRegular(path: string, limits: ReadLimits): Promise<{ fh: FileHandle; size: number }> {
  await refuseUnlessRegular(path, await (limits.noFollow ? lstat(path) : stat(path)), limits);
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (limits.noFollow ? constants.O_NOFOLLOW : 0);
  let fh: FileHandle;
  try {
    fh = await open(path, flags);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENXIO') await refuseUnlessRegular(path, await lstat(path), limits);
    throw e;
  }
  try {
    const st = await fh.stat();
    await refuseUnlessRegular(path, st, limits);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

function tooBig(path: string, size: string, limits: ReadLimits): GpumodError {
  return refused(path, `${size} bytes, over the limit of ${limits.maxBytes} bytes for this file`, limits);
}

/** The whole content of a regular file of at most `maxBytes`; anything else is GpumodError FILE_REFUSED naming it. */
export async function readRegularFile(path: string, limits: ReadLimits): Promise<Buffer> {
  const { fh, size } = await openRegular(path, limits);
  try {
    if (size > limits.maxBytes) throw tooBig(path, String(size), limits);
    // The size is not trusted: the file may grow while it is read, and /proc files report 0.
    const buf = Buffer.alloc(limits.maxBytes + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > limits.maxBytes) throw tooBig(path, `at least ${got}`, limits);
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/** At most the last `maxBytes` of a regular file as text, from its first whole line on (a cut line is dropped). */
export async function readTail(path: string, limits: ReadLimits): Promise<string> {
  const { fh, size } = await openRegular(path, limits);
  try {
    // One byte before the window too: it tells whether the window starts a line or cuts one.
    const start = Math.max(0, size - limits.maxBytes - 1);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    let text = buf.subarray(0, got);
    if (start > 0) {
      const nl = text.indexOf(0x0a);
      text = nl < 0 ? Buffer.alloc(0) : text.subarray(nl + 1);
    }
    return text.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** `read` with a missing file as undefined. */
export async function ifPresent<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
