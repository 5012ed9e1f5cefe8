import type { ServiceConfig } from '../config/types';
import type { GpuProcess, GpuSnapshot } from './machinePorts';
import { childModel } from './routers';

/** What a sleeping service may still hold beyond its declared residue (CUDA contexts differ by version and card). */
const RESIDUE_SLACK = 1.25;
export const RESIDUE_SLACK_MB = 512;

/** At most what a sleeping `svc` may hold: its declared residue with slack (a CUDA context's worth per card). */
export function residueAllowanceMb(svc: ServiceConfig): number {
  return Math.round(svc.sleepVramMb * RESIDUE_SLACK + RESIDUE_SLACK_MB * svc.gpus.length);
}

/**
 * The GPU processes of `svc` per the snapshot: its unit's, or, for one model of a router serving
 * several (`mates`), that model's child alone (the router and the other models stay).
 */
export function serviceProcesses(snap: GpuSnapshot, svc: ServiceConfig, mates: ServiceConfig[] = []): GpuProcess[] {
  if (!snap.available) return [];
  const procs = snap.gpus.filter((g) => svc.gpus.includes(g.index)).flatMap((g) => g.processes);
  return procs.filter((p) => p.unit === svc.unit && (mates.length === 0 || childModel(p.command, [svc, ...mates])?.name === svc.name));
}

/** MB the processes hold, counting [N/A] as 0; undefined when there are none. */
export function heldMb(procs: GpuProcess[]): number | undefined {
  return procs.length > 0 ? procs.reduce((s, p) => s + (p.usedMb ?? 0), 0) : undefined;
}
