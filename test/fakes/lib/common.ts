// Small pieces the fakes share beyond HTTP: the GPU holding of a fake with its lags and OOM check.
import { freeMb, GpuHolding } from './gpuFiles';
import type { Options } from './options';

/** A live process freeing memory (sleep/unload) shows on the GPU after ~25 ms (anchors.md). */
export const LIVE_RELEASE_LAG_MS = 25;

/** The GPU memory one PID of a fake holds, with the fake's lags, override and OOM check applied. */
export class FakeGpu {
  readonly holding: GpuHolding;

  constructor(
    private readonly opts: Options,
    pid: number,
    name?: string,
    /** The card (default --gpu-index); a tensor-parallel vLLM has one FakeGpu per card. */
    readonly gpu: number = opts.num('gpu-index'),
  ) {
    this.holding = new GpuHolding(opts.optStr('gpu-dir'), pid, gpu, name);
  }

  get usedMb(): number {
    return this.holding.usedMb;
  }

  /** The lag of a release by a live process, or --release-lag-ms. */
  get liveLag(): number {
    const o = this.opts.optNum('release-lag-ms');
    return this.opts.scale(o ?? LIVE_RELEASE_LAG_MS);
  }

  /** Whether growing to `usedMb` fits (always true without --oom). */
  fits(usedMb: number): boolean {
    if (!this.opts.bool('oom')) return true;
    const grow = usedMb - this.holding.usedMb;
    return grow <= 0 || freeMb(this.opts.optStr('gpu-dir'), this.gpu, this.opts.num('gpu-total-mb')) >= grow;
  }

  /** Growth shows at once; a release after the live lag (or `lagMs` when given, e.g. the stop lag). */
  set(usedMb: number, lagMs?: number): void {
    this.holding.set(usedMb, lagMs ?? this.liveLag);
  }

  /** The message a CUDA allocation failure would log. */
  oomMessage(wantMb: number): string {
    const free = freeMb(this.opts.optStr('gpu-dir'), this.gpu, this.opts.num('gpu-total-mb'));
    return `CUDA out of memory. Tried to allocate ${((wantMb - this.holding.usedMb) / 1024).toFixed(2)} GiB. GPU ${this.gpu} has a total capacity of ${(this.opts.num('gpu-total-mb') / 1024).toFixed(2)} GiB of which ${(Math.max(0, free) / 1024).toFixed(2)} GiB is free.`;
  }
}

/** Random-looking ids like the servers' (`chatcmpl-…`). */
export function randomId(len: number): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < len; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

/** A rough token count for usage fields. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}
