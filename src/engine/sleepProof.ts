import type { ServiceConfig } from '../config/types';
import { GpumodError } from '../errors';
import type { GpuSnapshot } from './machinePorts';
import { mb } from './budget';
import { RESIDUE_SLACK_MB, heldMb, residueAllowanceMb, serviceProcesses } from './gpuShare';
import { snapshotOrUnavailable, untilNextLook, type WaitPorts } from './waitFree';

/**
 * Whether `heldMb` after a sleep shows the sleep worked: within the residue allowance, or, when what it
 * held before is known, at least half of its releasable memory freed (a residue larger than declared
 * is not a sleep that freed nothing).
 */
export function sleepFreed(svc: ServiceConfig, heldMb: number, beforeMb: number | undefined, allowanceMb = residueAllowanceMb(svc)): boolean {
  if (heldMb <= allowanceMb) return true;
  return beforeMb !== undefined && beforeMb - heldMb >= Math.max(RESIDUE_SLACK_MB, (beforeMb - svc.sleepVramMb) / 2);
}

function likelyCauses(svc: ServiceConfig): string {
  switch (svc.driver) {
    case 'vllm':
      return 'is --enable-sleep-mode on its command line, is PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True kept out of its environment? (gpumod doctor checks both)';
    case 'llamacpp':
      return "the router still runs the model's process";
    default:
      return 'its sleep hook does not release the GPU';
  }
}

/**
 * A sleep is proven by the GPU, not by the server's word: polls until the service's processes hold
 * no more than a sleeping service may, for at most `boundMs`. Throws SLEEP_INEFFECTIVE with the
 * numbers and the likely causes; returns at once where no GPU can be read (nothing to prove with).
 * `mates`: the other models of its router, when it shares one (its residue is then the router's).
 */
export async function proveSleep(
  svc: ServiceConfig,
  baseline: GpuSnapshot | undefined,
  ports: WaitPorts,
  signal: AbortSignal,
  boundMs: number,
  mates: ServiceConfig[] = [],
): Promise<void> {
  const before = baseline ? heldMb(serviceProcesses(baseline, svc, mates)) : undefined;
  // A model sharing its router leaves no residue of its own: the router's is counted once, elsewhere.
  const allowance = mates.length > 0 ? RESIDUE_SLACK_MB : residueAllowanceMb(svc);
  const start = ports.clock.now();
  for (;;) {
    const lookedAt = ports.clock.now();
    const snap = await snapshotOrUnavailable(ports, signal);
    if (!snap.available || !snap.gpus.some((g) => svc.gpus.includes(g.index))) return;
    const held = heldMb(serviceProcesses(snap, svc, mates)) ?? 0;
    if (sleepFreed(svc, held, before, allowance)) return;
    if (signal.aborted || ports.clock.now() - start >= boundMs) {
      throw new GpumodError(
        'SLEEP_INEFFECTIVE',
        `${svc.name} answered its sleep but still holds ${mb(held)}${before !== undefined ? ` of the ${mb(before)} it held awake` : ''} (asleep it should hold about ${mb(mates.length > 0 ? 0 : svc.sleepVramMb)}): ${likelyCauses(svc)}`,
      );
    }
    await untilNextLook(ports, lookedAt, signal).catch(() => undefined);
  }
}
