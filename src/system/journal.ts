/** One journal entry as `gpumod logs --json` prints it. */
export interface JournalEntry {
  /** ISO 8601, from the entry's realtime timestamp. */
  timestamp: string;
  /** syslog priority: 0 emerg … 3 err, 4 warning, 6 info, 7 debug. */
  priority: number;
  message: string;
}

/** journalctl writes a MESSAGE that is not valid UTF-8 as an array of bytes, and an oversized one as null. */
function messageText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return Buffer.from(value as number[]).toString('utf8');
  return '';
}

function isoFromMicroseconds(value: unknown): string | undefined {
  if (typeof value !== 'string' || !/^\d{1,17}$/.test(value)) return undefined;
  const ms = Number(value) / 1000;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** `journalctl -o json` output (one object a line) → entries; lines that are not entries are skipped. */
export function parseJournalJson(text: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const timestamp = isoFromMicroseconds(o.__REALTIME_TIMESTAMP);
    if (timestamp === undefined) continue;
    const priority = Number(o.PRIORITY);
    entries.push({ timestamp, priority: Number.isInteger(priority) && priority >= 0 && priority <= 7 ? priority : 6, message: messageText(o.MESSAGE) });
  }
  return entries;
}
