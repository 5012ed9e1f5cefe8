import type { ServiceConfig } from '../config/types';
import type { SleepDepth } from '../drivers/driver';
import type { GpuSnapshot, UnitStatus } from '../system/types';

/** Observed, never assumed: combines the unit's systemd state with the driver's probe. */
export type ServiceState = 'stopped' | 'starting' | 'running' | 'sleeping' | 'waking' | 'stopping' | 'failed' | 'unknown';

export interface ServiceObservation {
  name: string;
  state: ServiceState;
  /** Set when state is 'sleeping'. */
  sleep?: SleepDepth;
  healthy: boolean;
  /** VRAM attributed to the unit's processes by cgroup, when a GPU is visible. */
  vramMb?: number;
  unit?: UnitStatus;
  /** Why the state is what it is, for tooltips and `status` (e.g. "unit failed: exit-code 3"). */
  detail?: string;
}

export interface Observation {
  at: number;
  services: Map<string, ServiceObservation>;
  gpu: GpuSnapshot;
  /** VRAM held by processes outside every configured unit, per GPU index. */
  foreignMb: Map<number, number>;
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
}

export interface Budget {
  gpu: number;
  totalMb: number;
  beforeMb: number;
  afterMb: number;
  marginMb: number;
  foreignMb: number;
}

export interface Plan {
  from: string | undefined;
  to: string;
  steps: PlanStep[];
  budgets: Budget[];
  ramAfterMb: number;
  estimateMs: number;
  /** Plain-language notes: unavoidable cold starts and why, orphans, refusals. */
  notes: string[];
  /** True when nothing needs doing. */
  noop: boolean;
}

export type StepResult = 'ok' | 'failed' | 'skipped' | 'cancelled' | 'rolled-back';

export interface TimelineEntry {
  service: string;
  action: StepAction | 'verify' | 'wait-free';
  startMs: number;
  ms: number;
  result: StepResult;
  error?: string;
}

export type { ServiceConfig };
