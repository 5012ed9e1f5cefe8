import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** A process as recorded in a file (the lock, the in-progress marker): its PID and its start time. */
export interface RecordedProcess {
  pid: number;
  /** procStartTime(pid) when it was recorded. */
  procStart?: string;
}

/** When a process started, in clock ticks since boot (/proc/PID/stat field 22); undefined when it is gone. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in field 2 may contain spaces and parentheses: count from its closing one.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a process still runs (EPERM: it does, as another user's). Zombies count as running.
 * Given a recorded process, only that very process counts: its start time must have been recorded
 * and still match, so a PID reused since (PID 1, or any other process) reads as gone.
 */
export function pidAlive(p: number | RecordedProcess): boolean {
  const pid = typeof p === 'number' ? p : p.pid;
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return typeof p === 'number' || (p.procStart !== undefined && procStartTime(pid) === p.procStart);
}

/** Resident memory of a process (/proc/PID/status VmRSS), kB; undefined when it is gone or unreadable. */
export async function rssKb(pid: number): Promise<number | undefined> {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
