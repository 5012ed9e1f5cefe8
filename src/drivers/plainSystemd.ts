import type { ServiceConfig } from '../config/types';
import { GpumodError } from '../errors';
import { awaitHealth, call, PROBE_TIMEOUT_MS, probeFailure, runReadiness } from './common';
import type { Driver, DriverCapabilities, DriverContext, Probe } from '../engine/driverPort';

/** Services without sleep support: systemd starts and stops them; health tells whether they serve. */
export const plainSystemdDriver: Driver = {
  kind: 'systemd',

  capabilities(): DriverCapabilities {
    return { sleepLevels: [], canWake: false, canDrain: false };
  },

  async probe(svc: ServiceConfig, ctx: DriverContext): Promise<Probe> {
    try {
      const res = await call(svc, ctx, 'GET', svc.healthPath, PROBE_TIMEOUT_MS);
      // It answers, so it runs: a non-2xx health makes it unhealthy, not "still starting".
      return res.status >= 200 && res.status < 300 ? { state: 'awake', healthy: true } : { state: 'awake', healthy: false, detail: `${svc.healthPath} answered ${res.status}` };
    } catch (e) {
      return probeFailure(e);
    }
  },

  async sleep(svc: ServiceConfig): Promise<void> {
    throw new GpumodError('USAGE', `${svc.name}: driver "systemd" cannot sleep; stop it instead`);
  },

  async wake(svc: ServiceConfig): Promise<void> {
    throw new GpumodError('USAGE', `${svc.name}: driver "systemd" cannot wake; start it instead`);
  },

  async awaitReady(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void> {
    await awaitHealth(svc, ctx, deadlineMs);
  },

  readiness: runReadiness,
};
