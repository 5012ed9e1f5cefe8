// nvidia-smi's loop mode prints one block of lines per iteration, all stamped with the iteration's
// `timestamp` (the first field we ask for). A block is whole when the next block's first line
// arrives, when it has as many lines as expected (one per GPU), or when the stream has been quiet
// a moment after its last line (the caller's timer calls `settle`).

export interface LineGroup {
  /** The iteration's timestamp cell, as printed. */
  stamp: string;
  /** The lines without their timestamp cell. */
  lines: string[];
  /** performance.now() when its last line arrived. */
  at: number;
}

/** Splits `stamp, rest…` ; undefined for a line that is not one (a header, an error text). */
export function splitStamp(line: string): { stamp: string; rest: string } | undefined {
  const m = /^(\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?), (.*)$/.exec(line.trim());
  return m ? { stamp: m[1], rest: m[2] } : undefined;
}

export class LineGroups {
  private open: LineGroup | undefined;

  constructor(
    private readonly onGroup: (g: LineGroup) => void,
    /** Lines per block when known (the GPU query: one per GPU); undefined: only the next stamp or quiet ends a block. */
    public expected?: number,
  ) {}

  /** Feeds one line; returns false for a line that carries no timestamp (ignored). */
  push(line: string, at: number): boolean {
    const s = splitStamp(line);
    if (!s) return false;
    if (this.open && this.open.stamp !== s.stamp) this.settle();
    this.open ??= { stamp: s.stamp, lines: [], at };
    this.open.lines.push(s.rest);
    this.open.at = at;
    if (this.expected !== undefined && this.open.lines.length >= this.expected) this.settle();
    return true;
  }

  /** Whether a block is waiting for its end. */
  get pending(): boolean {
    return this.open !== undefined;
  }

  /** Ends the open block, if any. */
  settle(): void {
    const g = this.open;
    this.open = undefined;
    if (g) this.onGroup(g);
  }
}
