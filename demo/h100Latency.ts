/**
 * The workstation's services with the fakes' latencies set from what was measured on an NVIDIA H100
 * 80GB HBM3 (anchors.md, "The physical limit" and "How soon nvidia-smi shows memory freed"): the
 * bench's `--profile h100`. Sizes are the profile's (demo/profile.ts); only durations change, and
 * where the anchors measured nothing the workstation's figure stays.
 */
import { PROFILE, type ProfileService } from './profile';

const MIB = 2 ** 20;
/** "host → GPU copy, pinned memory: 55 GB/s" and "GPU → host copy, pinned: 55 GB/s". */
const PINNED_BYTES_PER_MS = 55e9 / 1000;
/** "L2-style wake, 16 GiB from the page cache / from cold disk: 3.1 s / 8.8 s": weights reread from the page cache. */
const PAGE_CACHE_BYTES_PER_MS = (16 * 2 ** 30) / 3100;
/** "`import torch` + CUDA context (the floor of any cold start): 4.5 s + 0.41 s". */
const TORCH_IMPORT_MS = 4500;
const CUDA_CONTEXT_MS = 410;
/** "VRAM still held … the CUDA context alone: 527 MiB": what a server that cannot sleep holds beside its weights and KV cache, at least. */
const CUDA_CONTEXT_MIB = 527;
/** "the process exits on SIGTERM (as `systemctl stop` asks): 0.77-1.06 s" until memory.used drops (the middle). */
const SIGTERM_FREED_MS = 915;
/** The fake vLLM's split of what a sleep frees: 40% KV cache, the rest weights (test/fakes/vllm.ts, --kv-cache-mb). */
const KV_SHARE = 0.4;

function arg(s: ProfileService, name: string): number {
  const i = s.args.indexOf(`--${name}`);
  if (i < 0) throw new Error(`${s.name} has no --${name}`);
  return Number(s.args[i + 1]);
}

/** MiB of weights: what a sleep frees minus the KV cache; for a server that cannot sleep, the same share of what it holds beyond a CUDA context. */
function weightsMib(s: ProfileService): number {
  const vram = arg(s, 'vram-mb');
  const asleep = arg(s, 'vram-asleep-mb');
  const freed = asleep < vram ? vram - asleep : vram - CUDA_CONTEXT_MIB;
  return freed * (1 - KV_SHARE);
}

const ms = (x: number): string => String(Math.round(x));
/** Copying `mib` over PCIe from pinned host memory, either way. */
const pinnedCopyMs = (mib: number): number => (mib * MIB) / PINNED_BYTES_PER_MS;
/** Reading `mib` of weights from the page cache into the GPU. */
const pageCacheMs = (mib: number): number => (mib * MIB) / PAGE_CACHE_BYTES_PER_MS;

/** The fake options that differ from the workstation's, per service. */
function h100Args(s: ProfileService): Record<string, string> {
  switch (s.fake) {
    case 'vllm': {
      const w = weightsMib(s);
      const out: Record<string, string> = {
        // A cold start's floor: torch, a CUDA context, the weights from the page cache (no graph capture, no compile).
        'startup-ms': ms(TORCH_IMPORT_MS + CUDA_CONTEXT_MS + pageCacheMs(w)),
        'stop-ms': ms(SIGTERM_FREED_MS),
      };
      if (s.args.includes('--sleep-ms-l1') || s.args.includes('--wake-ms-l1')) {
        // "L1-style sleep/wake of 16 GiB weights + 8 GiB KV cache: 0.32 s" = 16 GiB at 55 GB/s: the weights are
        // copied, the KV cache is freed and re-allocated at no measurable cost.
        out['sleep-ms-l1'] = ms(pinnedCopyMs(w));
        out['wake-ms-l1'] = ms(pinnedCopyMs(w));
      }
      if (s.args.includes('--reload-ms')) {
        // The L2 row times the whole wake: re-allocation is inside it, the reload of the weights is the rest.
        out['wake-ms-l2'] = '0';
        out['wake-ms-kv'] = '0';
        out['reload-ms'] = ms(pageCacheMs(w));
      }
      return out;
    }
    case 'llamaRouter':
      // A llama-server child: a CUDA context and the GGUF from the page cache (no torch). Its unload is a
      // child that exits, as the workstation has it (anchors: SIGKILL frees in 0.16-0.21 s).
      return { 'load-ms': ms(CUDA_CONTEXT_MS + pageCacheMs(arg(s, 'model-vram-mb'))), 'stop-ms': ms(SIGTERM_FREED_MS) };
    case 'hookServer':
      // A FastAPI app imports torch and takes its CUDA context at start; /load reads the model.
      return {
        'startup-ms': ms(TORCH_IMPORT_MS + CUDA_CONTEXT_MS),
        'load-ms': ms(pageCacheMs(arg(s, 'vram-mb') - arg(s, 'vram-asleep-mb'))),
        'stop-ms': ms(SIGTERM_FREED_MS),
      };
    case 'plainServer':
      return { 'stop-ms': ms(SIGTERM_FREED_MS) };
  }
}

/** `args` with each `--name value` of `set` replaced (or appended). */
function withArgs(args: string[], set: Record<string, string>): string[] {
  const out = [...args];
  for (const [name, value] of Object.entries(set)) {
    const i = out.indexOf(`--${name}`);
    if (i >= 0) out[i + 1] = value;
    else out.push(`--${name}`, value);
  }
  return out;
}

/** Real-world cold starts are seconds here, so the bench runs this profile at time scale 1. */
export const H100_TIME_SCALE = 1;

export const H100_PROFILE: ProfileService[] = PROFILE.map((s) => {
  const args = withArgs(s.args, h100Args(s));
  const figure = (name: string): number => (args.includes(`--${name}`) ? arg({ ...s, args }, name) : 0);
  // A router or a lazy app serves once its model is loaded too.
  const coldStartMs = figure('startup-ms') + (s.fake === 'llamaRouter' || s.fake === 'hookServer' ? figure('load-ms') : 0);
  return { ...s, args, coldStartMs };
});
