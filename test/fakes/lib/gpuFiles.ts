// The fake GPU: a directory where every fake publishes the VRAM its processes hold, one file per PID,
// read by the fake nvidia-smi (and by fakes checking for room with --oom).
//
//   DIR/<pid>.json    {"pid":123,"usedMb":7000,"gpu":0,"prevMb":1500,"changedAt":1767000000000,"lagMs":25}
//   DIR/foreign.json  [{"pid":999,"usedMb":2000,"gpu":0}]   (processes gpumod does not manage; always alive)
//
// A real GPU shows growth at once but a release only after a lag (anchors.md): ~25 ms when a live
// process frees memory (sleep/unload), ~0.8-1 s after a SIGTERM exit, ~0.2 s after a SIGKILL. So a
// file whose usedMb < prevMb reads as prevMb until changedAt + lagMs. A file whose PID is dead reads
// as prevMb while such a release is pending (a SIGTERM exit), else as 0 at once (a crash or SIGKILL:
// the 0.2 s detection lag is not modelled).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface GpuHoldingFile {
  pid: number;
  usedMb: number;
  gpu: number;
  /** What the GPU showed just before this change (the value shown while a release lags). */
  prevMb: number;
  /** Epoch ms of the change. */
  changedAt: number;
  /** How long a release (usedMb < prevMb) takes to show, in ms (already divided by the time scale). */
  lagMs: number;
  /** Optional process name for nvidia-smi's process_name when /proc does not know the PID. */
  name?: string;
}

export interface GpuHolder {
  pid: number;
  gpu: number;
  usedMb: number;
  name?: string;
  foreign: boolean;
}

/** A zombie (exited, not yet reaped: common where PID 1 reaps lazily) holds no GPU memory: dead. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    // no /proc entry: gone (or no procfs: ask the kernel)
  }
  try {
    process.kill(pid, 0);
    return !existsSync('/proc/self');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The MB a GPU shows for one holding file at `now`. */
export function effectiveMb(f: GpuHoldingFile, now: number, alive: boolean): number {
  const pending = f.usedMb < f.prevMb && now < f.changedAt + f.lagMs;
  if (!alive) return pending ? f.prevMb : 0;
  return pending ? f.prevMb : f.usedMb;
}

function parseHolding(text: string): GpuHoldingFile | undefined {
  try {
    const v = JSON.parse(text) as Partial<GpuHoldingFile>;
    if (typeof v.pid !== 'number' || typeof v.usedMb !== 'number') return undefined;
    return {
      pid: v.pid,
      usedMb: v.usedMb,
      gpu: typeof v.gpu === 'number' ? v.gpu : 0,
      prevMb: typeof v.prevMb === 'number' ? v.prevMb : v.usedMb,
      changedAt: typeof v.changedAt === 'number' ? v.changedAt : 0,
      lagMs: typeof v.lagMs === 'number' ? v.lagMs : 0,
      name: typeof v.name === 'string' ? v.name : undefined,
    };
  } catch {
    return undefined; // a half-written file cannot happen (rename), but a hand-written one can be wrong
  }
}

export function readHoldingFile(dir: string, pid: number): GpuHoldingFile | undefined {
  try {
    return parseHolding(readFileSync(join(dir, `${pid}.json`), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every process holding memory now (0 MB holders left out), foreign ones included. */
export function readHolders(dir: string, now = Date.now()): GpuHolder[] {
  const out: GpuHolder[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(join(dir, name), 'utf8');
    } catch {
      continue;
    }
    const f = parseHolding(text);
    if (!f) continue;
    const usedMb = effectiveMb(f, now, pidAlive(f.pid));
    if (usedMb > 0) out.push({ pid: f.pid, gpu: f.gpu, usedMb, name: f.name, foreign: false });
  }
  try {
    const foreign: unknown = JSON.parse(readFileSync(join(dir, 'foreign.json'), 'utf8'));
    if (Array.isArray(foreign)) {
      for (const item of foreign as Array<Partial<GpuHolder>>) {
        if (typeof item?.pid !== 'number' || typeof item.usedMb !== 'number') continue;
        out.push({ pid: item.pid, gpu: typeof item.gpu === 'number' ? item.gpu : 0, usedMb: item.usedMb, name: item.name, foreign: true });
      }
    }
  } catch {
    // no foreign.json: no foreign processes
  }
  return out.sort((a, b) => a.pid - b.pid);
}

export function usedMbOnGpu(dir: string, gpu: number, now = Date.now()): number {
  return readHolders(dir, now)
    .filter((h) => h.gpu === gpu)
    .reduce((sum, h) => sum + h.usedMb, 0);
}

/** Publishes one PID's holding. Writes are atomic (tmp + rename) so a reader never sees half a file. */
export class GpuHolding {
  private current = 0;

  constructor(
    private readonly dir: string | undefined,
    readonly pid: number,
    private readonly gpu: number,
    private readonly name?: string,
  ) {
    if (dir) mkdirSync(dir, { recursive: true });
  }

  get usedMb(): number {
    return this.current;
  }

  /** Sets the memory held; a decrease shows on the GPU only after lagMs. */
  set(usedMb: number, lagMs: number): void {
    const now = Date.now();
    let prevMb = this.current;
    if (this.dir) {
      // If an earlier release is still lagging, the GPU still shows its old value until that lag is over.
      const before = readHoldingFile(this.dir, this.pid);
      if (before) {
        prevMb = effectiveMb(before, now, true);
        if (before.usedMb < before.prevMb) lagMs = Math.max(lagMs, before.changedAt + before.lagMs - now);
      }
    }
    this.current = usedMb;
    if (!this.dir) return;
    const file: GpuHoldingFile = { pid: this.pid, usedMb, gpu: this.gpu, prevMb, changedAt: now, lagMs: Math.max(0, Math.round(lagMs)) };
    if (this.name) file.name = this.name;
    const target = join(this.dir, `${this.pid}.json`);
    const tmp = join(this.dir, `.${this.pid}.json.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(file));
    renameSync(tmp, target);
  }
}

/** Room left on a GPU as a CUDA allocation would see it (lagging releases still count as used). */
export function freeMb(dir: string | undefined, gpu: number, totalMb: number): number {
  if (!dir) return totalMb;
  return totalMb - usedMbOnGpu(dir, gpu);
}
