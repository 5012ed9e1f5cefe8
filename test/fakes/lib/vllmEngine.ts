// The processes of the fake vLLM that hold its GPU memory. On one card, V1's EngineCore child holds
// it all (or the server itself, --gpu-child off). Spread over several cards with tensor parallelism,
// real vLLM runs one worker per card, titled VLLM::Worker_TP0, VLLM::Worker_TP1, …, each holding its
// share of the weights and KV cache plus its own CUDA context and graphs; nvidia-smi lists one
// process per card. The workers here are children of the server (real ones are EngineCore's
// children, and EngineCore then holds nothing): either way they sit in the unit's cgroup.
import { FakeGpu } from './common';
import { spawnHolder, type Holder } from './holder';
import type { Options } from './options';

/** What the server does with its memory, as one total over its cards. */
export interface EngineGpu {
  /** The total held now. */
  readonly usedMb: number;
  set(totalMb: number, lagMs?: number): void;
  /** Whether growing to `totalMb` fits on every card (always true without --oom). */
  fits(totalMb: number): boolean;
  oomMessage(totalMb: number): string;
}

export interface Engine {
  gpu: EngineGpu;
  /** The PID holding each card's memory, in rank order. */
  pids: number[];
  /** The total split over the cards as `set` splits it. */
  shares(totalMb: number): number[];
  /** Resolves when a child holding memory dies, with its short name ("EngineCore", "Worker_TP1"). */
  died?: Promise<{ name: string; code: number | null }>;
  kill(): void;
}

/**
 * The cards from --gpus ("0,1", repeatable, or a JSON list), else [--gpu-index]; a message when the
 * list is not distinct card indexes.
 */
export function engineCards(opts: Options): number[] | string {
  const raw = opts.list('gpus').flatMap((v) => v.split(','));
  if (raw.length === 0) return [opts.num('gpu-index')];
  const cards = raw.map((v) => (/^\s*\d+\s*$/.test(v) ? Number(v) : NaN));
  if (cards.some((c) => !Number.isInteger(c))) return `--gpus is a comma list of card indexes, not ${JSON.stringify(opts.list('gpus').join(','))}`;
  if (new Set(cards).size !== cards.length) return `--gpus names a card twice: ${cards.join(',')}`;
  return cards;
}

/** `totalMb` split evenly over `n` cards, the remainder on the first: the split gpumod's planner assumes. */
export function splitEvenly(totalMb: number, n: number): number[] {
  const each = Math.floor(totalMb / n);
  return Array.from({ length: n }, (_, i) => (i === 0 ? totalMb - each * (n - 1) : each));
}

/** One card's memory per holder; the total is set, split evenly. */
class SpreadGpu implements EngineGpu {
  constructor(private readonly parts: FakeGpu[]) {}

  get usedMb(): number {
    return this.parts.reduce((sum, p) => sum + p.usedMb, 0);
  }

  set(totalMb: number, lagMs?: number): void {
    const shares = splitEvenly(totalMb, this.parts.length);
    this.parts.forEach((p, i) => p.set(shares[i], lagMs));
  }

  fits(totalMb: number): boolean {
    const shares = splitEvenly(totalMb, this.parts.length);
    return this.parts.every((p, i) => p.fits(shares[i]));
  }

  /** The message of the first card the growth does not fit (each worker allocates on its own card). */
  oomMessage(totalMb: number): string {
    const shares = splitEvenly(totalMb, this.parts.length);
    const i = Math.max(0, this.parts.findIndex((p, k) => !p.fits(shares[k])));
    return this.parts[i].oomMessage(shares[i]);
  }
}

/** Starts the processes that hold the memory: EngineCore on one card, a worker per card on several. */
export async function startEngine(opts: Options, cards: number[]): Promise<Engine> {
  const inChild = opts.bool('gpu-child');
  if (cards.length === 1) {
    const holder = inChild ? await spawnHolder('VLLM::EngineCore') : undefined;
    const pid = holder?.pid ?? process.pid;
    return {
      gpu: new FakeGpu(opts, pid, holder ? 'VLLM::EngineCore' : undefined, cards[0]),
      pids: [pid],
      shares: (totalMb) => [totalMb],
      died: holder?.exited.then((code) => ({ name: 'EngineCore', code })),
      kill: () => holder?.kill(),
    };
  }
  // --gpu-child off: rank 0 runs in the server (as V0's driver worker did), the other ranks in workers.
  const ranks = cards.map((_, rank) => rank).filter((rank) => inChild || rank > 0);
  const spawned = await Promise.allSettled(ranks.map((rank) => spawnHolder(`VLLM::Worker_TP${rank}`)));
  const workers: Array<{ rank: number; holder: Holder }> = [];
  spawned.forEach((r, i) => r.status === 'fulfilled' && workers.push({ rank: ranks[i], holder: r.value }));
  const killAll = (): void => workers.forEach((w) => w.holder.kill());
  const failed = spawned.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    killAll();
    throw failed.reason;
  }
  const pids = cards.map((_, rank) => workers.find((w) => w.rank === rank)?.holder.pid ?? process.pid);
  const parts = cards.map((card, rank) => new FakeGpu(opts, pids[rank], pids[rank] === process.pid ? undefined : `VLLM::Worker_TP${rank}`, card));
  return {
    gpu: new SpreadGpu(parts),
    pids,
    shares: (totalMb) => splitEvenly(totalMb, cards.length),
    // One dead worker takes the whole engine down, as vLLM's executor does.
    died: Promise.race(workers.map((w) => w.holder.exited.then((code) => ({ name: `Worker_TP${w.rank}`, code })))),
    kill: killAll,
  };
}
