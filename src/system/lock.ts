// One switch at a time per machine, across VS Code windows and the CLI: DIR/switch.lock names its owner.
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GpumodError } from '../errors';
import { pidAlive, procStartTime } from './pids';
import { printable } from '../engine/printable';
import { ifPresent, readRegularFile } from './regularFile';

export const LOCK_FILE = 'switch.lock';

export interface LockOwner {
  pid: number;
  /** What holds the lock, e.g. "switch" or "gpumod switch rag". */
  command: string;
  /** The mode being switched to, when there is one. */
  target?: string;
}

export interface LockHolder extends LockOwner {
  startedAt: string;
  hostname: string;
  /** The owner's start time in clock ticks (/proc/PID/stat), so a recycled PID is not taken for the owner. */
  procStart?: string;
}

function elsewhere(h: LockHolder): boolean {
  return h.hostname !== '' && h.hostname !== hostname();
}

export class LockedError extends GpumodError {
  constructor(readonly holder: LockHolder) {
    super('LOCKED', `switch in progress by PID ${holder.pid}${elsewhere(holder) ? ` on host ${holder.hostname}` : ''}${holder.target ? ` (→ ${holder.target})` : ''}`);
    this.name = 'LockedError';
  }
}

export type ReleaseLock = () => Promise<void>;

export interface AcquireOptions {
  owner: LockOwner;
}

/** How long acquireLock keeps trying while other processes create, release or break the lock. */
const CONTENTION_MS = 5000;
const GUARD_STALE_MS = 5000;
/** A lock file younger than this that cannot be parsed may still be being written (O_EXCL fallback). */
const UNPARSEABLE_GRACE_MS = 2000;
/** A lock file is a few hundred bytes; a bigger one is not ours and is never read whole. */
const MAX_LOCK_BYTES = 64 * 1024;

/** The holder named in a lock file, its text made printable: it is shown to whoever finds the lock taken. */
function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (typeof v !== 'object' || v === null || !Number.isInteger(v.pid)) return undefined;
    const str = (x: unknown, max = 200): string => (typeof x === 'string' ? printable(x, max) : '');
    return {
      pid: v.pid as number,
      command: str(v.command),
      ...(typeof v.target === 'string' ? { target: str(v.target) } : {}),
      startedAt: str(v.startedAt, 40),
      hostname: str(v.hostname, 64),
      ...(typeof v.procStart === 'string' ? { procStart: str(v.procStart, 20) } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock's owner still runs: the PID with the start time it recorded (a lock without one is
 * stale). An owner on another host (shared home) cannot be checked: assume it does.
 */
export function holderAlive(h: LockHolder): boolean {
  return elsewhere(h) || pidAlive(h);
}

/**
 * The lock file's text, or undefined when there is none. gpumod only ever creates a regular file
 * there: a symbolic link (even a dangling one), a directory or a FIFO is refused with FILE_REFUSED.
 */
async function readText(path: string): Promise<string | undefined> {
  const buf = await ifPresent(readRegularFile(path, { maxBytes: MAX_LOCK_BYTES, noFollow: true, hint: 'gpumod never creates one there; remove it' }));
  return buf?.toString('utf8');
}

function isCode(e: unknown, ...codes: string[]): boolean {
  return codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

/**
 * Creates the lock with its full content or fails with EEXIST. link() of a complete temporary file
 * is as exclusive as O_EXCL and never exposes an empty lock to a contender; O_EXCL is the fallback
 * where hard links are not supported.
 */
async function tryCreate(lockPath: string, content: string): Promise<boolean> {
  const tmp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  // Not fsynced: other processes read it through the page cache, and after a power loss no holder
  // survives anyway (an empty or torn lock file is judged stale like a dead holder's).
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, lockPath);
    return true;
  } catch (e) {
    if (isCode(e, 'EEXIST')) return false;
    if (!isCode(e, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS')) throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  try {
    const lh = await open(lockPath, 'wx', 0o644);
    try {
      await lh.writeFile(content);
    } finally {
      await lh.close();
    }
    return true;
  } catch (e) {
    if (isCode(e, 'EEXIST')) return false;
    throw e;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Removes a lock judged stale. A plain rename-aside-then-check is not enough: a slow breaker would
 * move aside the fresh lock a faster contender has just taken, and another contender could take the
 * empty slot before it is put back (two owners; seen in the tests with six processes). So breakers
 * take a short-lived guard file (O_EXCL) and, under it, check that the lock still holds exactly the
 * content judged stale before unlinking it. While they hold the guard the lock cannot change: its
 * dead owner cannot release it, no contender can create over it, and other breakers wait. A guard
 * left by a crashed breaker is removed after GUARD_STALE_MS (it is held for milliseconds).
 */
async function breakStale(lockPath: string, judged: string): Promise<void> {
  const guardPath = `${lockPath}.breaking`;
  let guard: Awaited<ReturnType<typeof open>>;
  try {
    guard = await open(guardPath, 'wx', 0o644);
  } catch (e) {
    if (!isCode(e, 'EEXIST')) throw e;
    const st = await stat(guardPath).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > GUARD_STALE_MS) await unlink(guardPath).catch(() => undefined);
    else await sleep(10);
    return; // the caller looks again: the other breaker may have finished
  }
  try {
    if ((await readText(lockPath)) === judged) await unlink(lockPath).catch(() => undefined);
  } finally {
    await guard.close();
    await unlink(guardPath).catch(() => undefined);
  }
}

/** The current holder of the lock in `dir`, if any (for status displays; live or not). */
export async function readLock(dir: string): Promise<LockHolder | undefined> {
  const text = await readText(join(dir, LOCK_FILE));
  return text === undefined ? undefined : parseHolder(text);
}

/**
 * Takes DIR/switch.lock for `owner`, breaking a lock whose owner is dead. Throws LockedError
 * (code LOCKED, with the holder) when a live process holds it. Resolves to the release function,
 * which removes the lock only if it is still ours.
 */
export async function acquireLock(dir: string, opts: AcquireOptions): Promise<ReleaseLock> {
  await mkdir(dir, { recursive: true });
  const lockPath = join(dir, LOCK_FILE);
  const started = procStartTime(opts.owner.pid);
  const holder: LockHolder = {
    pid: opts.owner.pid,
    command: opts.owner.command,
    ...(opts.owner.target !== undefined ? { target: opts.owner.target } : {}),
    startedAt: new Date().toISOString(),
    hostname: hostname(),
    ...(started !== undefined ? { procStart: started } : {}),
  };
  const content = `${JSON.stringify(holder)}\n`;

  const giveUpAt = Date.now() + CONTENTION_MS;
  while (Date.now() < giveUpAt) {
    if (await tryCreate(lockPath, content)) {
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        if ((await readText(lockPath).catch(() => undefined)) === content) await unlink(lockPath).catch(() => undefined);
      };
    }
    const seen = await readText(lockPath);
    if (seen === undefined) continue; // released meanwhile
    const current = parseHolder(seen);
    if (current && holderAlive(current)) throw new LockedError(current);
    if (!current) {
      const st = await lstat(lockPath).catch(() => undefined);
      const age = st ? Date.now() - st.mtimeMs : Infinity;
      if (age < UNPARSEABLE_GRACE_MS) {
        await sleep(50);
        continue;
      }
    }
    await breakStale(lockPath, seen);
  }
  throw new GpumodError('LOCKED', `could not take ${lockPath} within ${CONTENTION_MS} ms (contended)`);
}
