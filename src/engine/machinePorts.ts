/** The machine as the engine and the drivers see it: interfaces only, implemented in src/system. */

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** Serialised as JSON with content-type application/json when present. */
  json?: unknown;
  /** Whole-request deadline (connect + headers + body). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Response bodies beyond this are refused (HTTP_BAD_RESPONSE): a server must not exhaust our memory. */
  maxBytes?: number;
  /** Logged at debug, not info: the repeats of a poll, which would bury the log at tens a second. */
  quiet?: boolean;
}

export interface HttpResponse {
  status: number;
  body: string;
  ms: number;
}

/** Resolves for every HTTP status; rejects with GpumodError HTTP_UNREACHABLE | HTTP_TIMEOUT | HTTP_BAD_RESPONSE | CANCELLED. */
export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>;
}

/** `systemctl --user show` of one unit, parsed. */
export interface UnitStatus {
  unit: string;
  loadState: string; // loaded | not-found | masked | …
  activeState: string; // active | inactive | failed | activating | deactivating | reloading | maintenance
  subState: string; // running | dead | failed | start | stop-sigterm | auto-restart | …
  mainPid: number;
  result: string; // success | exit-code | signal | timeout | …
  execMainStatus: number;
  controlGroup: string;
  nRestarts: number;
  /** Microseconds since the epoch of the last state change, 0 if unknown. */
  stateChangeUs: number;
  /** The command line(s) of ExecStart (argv, one command a line), without systemd's run-time fields. */
  execStart?: string;
}

export interface ProcessOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One unit's answer in a batch: its status, or the error a `show` of it alone would have thrown. */
export type UnitLook = PromiseSettledResult<UnitStatus>;

export interface Systemd {
  show(unit: string, opts?: ProcessOptions): Promise<UnitStatus>;
  /**
   * Every unit's status from one `systemctl show` (an observation costs one process, not one per
   * unit): one answer per unit, in the order asked. Never rejects: a unit that cannot be shown gets
   * its own error without costing the others their statuses.
   */
  showMany(units: readonly string[], opts?: ProcessOptions): Promise<UnitLook[]>;
  start(unit: string, opts?: ProcessOptions): Promise<void>;
  stop(unit: string, opts?: ProcessOptions): Promise<void>;
  restart(unit: string, opts?: ProcessOptions): Promise<void>;
  isActive(unit: string, opts?: ProcessOptions): Promise<string>;
  /** `systemctl --user reset-failed`: forgets a failed state and the unit's start-limit counter. */
  resetFailed(unit: string, opts?: ProcessOptions): Promise<void>;
  /** The last `lines` lines of the unit's journal. */
  journal(unit: string, lines: number, opts?: ProcessOptions): Promise<string>;
  /** PIDs in the unit's cgroup, children included (GPU memory belongs to children). */
  pids(status: UnitStatus): Promise<number[]>;
  /** Host RAM resident in the unit's processes (VmRSS summed over its cgroup), MB; undefined when unreadable. */
  rssMb?(status: UnitStatus): Promise<number | undefined>;
}

export interface GpuProcess {
  pid: number;
  /** MB, or undefined when nvidia-smi says [N/A]. */
  usedMb: number | undefined;
  /** The systemd unit owning the PID (from /proc/PID/cgroup), if any. */
  unit?: string;
  /** Its command line (/proc/PID/cmdline), for a unit's process: tells a router's model children apart. */
  command?: string[];
}

export interface GpuInfo {
  index: number;
  uuid: string;
  name: string;
  totalMb: number | undefined;
  usedMb: number | undefined;
  freeMb: number | undefined;
  processes: GpuProcess[];
}

export type GpuSnapshot =
  | { available: true; gpus: GpuInfo[]; ms: number }
  | { available: false; reason: string };

export interface GpuLookOptions extends ProcessOptions {
  /** A sample up to this old (ms) will do (a periodic status look); default 0: one taken after the call. */
  maxAgeMs?: number;
}

export interface Gpu {
  snapshot(opts?: GpuLookOptions): Promise<GpuSnapshot>;
  /**
   * Follows the GPU every `periodMs` (nvidia-smi's loop mode) until the returned function is called, so
   * looks in between start no process. Optional: an implementation without it answers every look afresh.
   */
  follow?(periodMs: number): () => void;
}
