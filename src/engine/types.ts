import type { ServiceConfig } from '../config/types';
import type { SleepDepth } from './driverPort';
import type { GpuSnapshot, UnitStatus } from './machinePorts';

/** Observed, never assumed: combines the unit's systemd state with the driver's probe. */
export type ServiceState = 'stopped' | 'starting' | 'running' | 'sleeping' | 'waking' | 'stopping' | 'failed' | 'unknown';

export interface ServiceObservation {
  name: string;
  state: ServiceState;
  /** Set when state is 'sleeping' (and for 'waking' when the probe says from which depth). */
  sleep?: SleepDepth;
  healthy: boolean;
  /** VRAM attributed to the unit's processes by cgroup, when a GPU is visible. */
  vramMb?: number;
  /** For a service on several cards, `vramMb` per card (GPU index → MB), when a GPU is visible. */
  vramByGpu?: Record<number, number>;
  /** Host RAM resident in the unit's processes, read for sleepers that keep weights in RAM (L1, router, hook). */
  ramMb?: number;
  unit?: UnitStatus;
  /** Why the state is what it is, for tooltips and `status` (e.g. "unit failed: exit-code 3"). */
  detail?: string;
  /** For a llama.cpp router's model: the router's `--models-max` (0 = unlimited), when it said. */
  modelsMax?: number;
}

export interface Observation {
  at: number;
  services: Map<string, ServiceObservation>;
  gpu: GpuSnapshot;
  /** VRAM held by processes outside every configured unit, per GPU index. */
  foreignMb: Map<number, number>;
  /** VRAM of a shared llama.cpp router's own process (not one model's child), per unit: counted once. */
  routerMb?: Map<string, number>;
}

export type StepAction = 'keep' | 'sleep' | 'stop' | 'wake' | 'start' | 'load';

export interface PlanStep {
  service: string;
  action: StepAction;
  /** For sleep: how deep. */
  depth?: SleepDepth;
  /** Why this step, in words shown in the preview ("not in rag; sleeps to keep its 4.5 GB weights in RAM"). */
  reason: string;
  /** Expected duration from history or the profile, ms. */
  estimateMs: number;
  /** VRAM after the step for this service, MB. */
  vramAfterMb: number;
  /** For a service on several cards: `vramAfterMb` per card (GPU index → MB). */
  vramAfterByGpu?: Record<number, number>;
  /** Where vramAfterMb comes from (absent when the service ends up holding nothing). */
  vramSource?: 'measured' | 'declared' | 'unknown';
  /** The observed state before the switch: a rollback returns the service here. */
  fromState: ServiceState;
  fromSleep?: SleepDepth;
  /** The GPU index the service lives on. */
  gpu: number;
  /** The service belongs to the target mode. */
  incoming: boolean;
}

export interface Budget {
  gpu: number;
  /** Undefined when no GPU is visible and the config gives no total: planned without a VRAM check. */
  totalMb: number | undefined;
  beforeMb: number;
  /** Services (awake + residues) and foreign processes after the switch; the margin comes on top. */
  afterMb: number;
  marginMb: number;
  foreignMb: number;
  /** The services holding memory after the switch, by where their figure comes from. */
  sources: { measured: string[]; declared: string[]; unknown: string[] };
}

/** Why a plan cannot be carried out, with the numbers. */
export interface Refusal {
  reason: string;
  neededMb: number;
  availableMb: number;
  gpu?: number;
}

/** The estimate split by executor phase; `estimateMs` is their sum. */
export interface PhaseEstimate {
  releaseMs: number;
  waitFreeMs: number;
  /** Acquire and ready overlap per service (each service's readiness follows its own wake). */
  acquireMs: number;
}

export interface Plan {
  from: string | undefined;
  to: string;
  steps: PlanStep[];
  budgets: Budget[];
  ramAfterMb: number;
  /** budget.hostRamMb; 0 = unlimited. */
  ramBudgetMb: number;
  estimateMs: number;
  phases: PhaseEstimate;
  /** Plain-language notes: unavoidable cold starts and why, orphans, refusals. */
  notes: string[];
  /** True when nothing needs doing. */
  noop: boolean;
  refused?: Refusal;
}

export type StepResult = 'ok' | 'failed' | 'skipped' | 'cancelled' | 'rolled-back' | 'timeout';

export type Phase = 'release' | 'wait-free' | 'acquire' | 'ready' | 'verify' | 'rollback' | 'action';

export type TimelineAction = StepAction | 'verify' | 'wait-free' | 'ready' | 'restart';

export interface TimelineEntry {
  service: string;
  action: TimelineAction;
  depth?: SleepDepth;
  phase?: Phase;
  /** Relative to the start of the switch. */
  startMs: number;
  ms: number;
  result: StepResult;
  error?: string;
  /** The service was already starting (waking): the step only awaited the rest, no measure of a cold start (wake). */
  awaited?: true;
  /** What the plan expected this step to take, ms (plan steps only): the timeline shows it beside the actual. */
  estimateMs?: number;
}

/** What the store remembers of one service (JSON-friendly). */
export interface ServiceRecord {
  state: ServiceState;
  sleep?: SleepDepth;
}

/** A switch that began and has not been committed: enough to reconcile after a crash. */
export interface SwitchInProgress {
  from: string | undefined;
  to: string;
  pid: number;
  startedAt: number;
  /** The process's start time (/proc/PID/stat), so a PID reused after a crash is not taken for the switch. */
  procStart?: string;
}

/** A service's readiness answer after a cold start, and the process it came from (a new process needs a new one). */
export interface RecordedAnswer {
  answer: string;
  pid: number;
}

/** The state file: the last committed mode, as observed when it was written. */
export interface SwitchState {
  mode: string | undefined;
  at: number;
  services: Record<string, ServiceRecord>;
  switching?: SwitchInProgress;
  /** Readiness answers after each service's last cold start, compared after its wakes. */
  answers?: Record<string, RecordedAnswer>;
  /** Services the gateway put to sleep for idleness (still asleep): they still count in `mode`. */
  idle?: string[];
}

/** One line of history: a switch, or a single-service action (then `service` is set). */
export interface SwitchRecord {
  kind: 'switch' | 'service';
  from: string | undefined;
  to: string | undefined;
  service?: string;
  startedAt: number;
  totalMs: number;
  estimateMs?: number;
  /** The plan's estimate split by phase, for the timeline chart. */
  phaseEstimates?: PhaseEstimate;
  ok: boolean;
  rolledBack: boolean;
  cancelled: boolean;
  error?: string;
  steps: TimelineEntry[];
}

export type { ServiceConfig };
