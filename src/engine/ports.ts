import type { ServiceConfig } from '../config/types';
import type { Driver } from './driverPort';
import type { Footprints } from './footprints';
import type { Logger } from './logger';
import type { Gpu, HttpClient, Systemd } from './machinePorts';
import type { SwitchRecord, SwitchState } from './types';

/** Time, injected so tests run a switch of 60 s cold starts in virtual time. */
export interface Clock {
  /** Milliseconds; only differences matter. */
  now(): number;
  /** Resolves after `ms`; rejects (GpumodError CANCELLED) as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The state file and the history, written atomically by the implementation. */
export interface StateStore {
  readState(): Promise<SwitchState | undefined>;
  writeState(state: SwitchState): Promise<void>;
  appendHistory(record: SwitchRecord): Promise<void>;
  /** The last `limit` records, oldest first. */
  readHistory(limit: number): Promise<SwitchRecord[]>;
  /** The learned footprints ({} when none or unreadable). */
  readFootprints(): Promise<Footprints>;
  writeFootprints(footprints: Footprints): Promise<void>;
}

/** Who asks for the lock: shown to the loser as "switch in progress by PID N (→ rag)". */
export interface LockRequest {
  command: string;
  /** The mode being switched to, if any. */
  target?: string;
}

/** One switch per machine. `acquire` rejects with GpumodError LOCKED naming the holder. */
export interface SwitchLock {
  acquire(owner: LockRequest): Promise<() => Promise<void>>;
}

/** Everything the engine needs from the outside world; the composition root builds it. */
export interface EnginePorts {
  systemd: Systemd;
  gpu: Gpu;
  /** The driver for a service (by `svc.driver`). */
  drivers: (svc: ServiceConfig) => Driver;
  http: HttpClient;
  log: Logger;
  clock: Clock;
  store: StateStore;
  lock: SwitchLock;
  /** This process, recorded in the in-progress marker so a crash can be told from a running switch. */
  pid: number;
  /** This process's start time (/proc/PID/stat), recorded with `pid` so a reused PID is not taken for it. */
  procStart?: string;
}

/** What observing the machine needs (no store, no lock). */
export type ObservePorts = Pick<EnginePorts, 'systemd' | 'gpu' | 'drivers' | 'http' | 'log' | 'clock'>;
