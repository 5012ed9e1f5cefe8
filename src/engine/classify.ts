import type { Probe, SleepDepth } from './driverPort';
import type { UnitStatus } from './machinePorts';
import type { ServiceState } from './types';

export interface Classification {
  state: ServiceState;
  sleep?: SleepDepth;
  healthy: boolean;
  detail?: string;
}

/**
 * One service's state from systemd's view of the unit and the driver's probe (undefined when the
 * probe was not asked). systemd answers "is there a process"; the probe answers "is the model in VRAM".
 */
export function classify(unit: UnitStatus, probe: Probe | undefined): Classification {
  if (unit.loadState === 'not-found') return { state: 'unknown', healthy: false, detail: `unit ${unit.unit} not found` };
  if (unit.loadState === 'masked') return { state: 'unknown', healthy: false, detail: `unit ${unit.unit} is masked` };
  switch (unit.activeState) {
    case 'inactive':
      return { state: 'stopped', healthy: false, detail: lastRun(unit) };
    case 'failed':
      return { state: 'failed', healthy: false, detail: `unit failed: ${failure(unit)}` };
    case 'activating':
      return {
        state: 'starting',
        healthy: false,
        detail: unit.subState === 'auto-restart' ? `restarting after a failure (${unit.nRestarts} restarts)` : undefined,
      };
    case 'deactivating':
      return { state: 'stopping', healthy: false };
    case 'active':
    case 'reloading':
      return fromProbe(probe);
    default:
      return { state: 'unknown', healthy: false, detail: `unit is ${unit.activeState}/${unit.subState}` };
  }
}

function fromProbe(probe: Probe | undefined): Classification {
  if (!probe) return { state: 'running', healthy: false, detail: 'not probed' };
  switch (probe.state) {
    case 'down':
      // The unit is up but nothing answers yet: a server still loading before it binds its port.
      return { state: 'starting', healthy: false, detail: probe.detail ?? 'port not answering yet' };
    case 'asleep':
      return { state: 'sleeping', sleep: probe.sleep ?? 'l1', healthy: probe.healthy, detail: probe.detail };
    case 'awake':
      return { state: 'running', healthy: probe.healthy, detail: probe.healthy ? probe.detail : (probe.detail ?? 'health check failing') };
    case 'loading':
      // A server that answers health while loading had a process already: it is waking, not starting.
      return probe.sleep !== undefined || probe.healthy
        ? { state: 'waking', sleep: probe.sleep, healthy: probe.healthy, detail: probe.detail }
        : { state: 'starting', healthy: false, detail: probe.detail };
    case 'failed':
      return { state: 'failed', healthy: false, detail: probe.detail ?? 'the server reports a failed load' };
    case 'error':
      return { state: 'unknown', healthy: false, detail: probe.detail ?? 'unexpected answer from the server' };
  }
}

function failure(unit: UnitStatus): string {
  return unit.execMainStatus ? `${unit.result}, exit status ${unit.execMainStatus}` : unit.result;
}

function lastRun(unit: UnitStatus): string | undefined {
  return unit.result && unit.result !== 'success' ? `last run ended: ${failure(unit)}` : undefined;
}
