import type { ServiceConfig } from '../config/types';
import { GpumodError } from '../system/errors';
import { awaitHealth, healthy, runReadiness } from './common';
import type { Driver, DriverCapabilities, DriverContext, Probe } from './driver';

/** Services without sleep support: systemd starts and stops them; health tells whether they serve. */
export const plainSystemdDriver: Driver = {
  kind: 'systemd',

  capabilities(): DriverCapabilities {
    return { sleepLevels: [], canWake: false, canDrain: false };
  },

  async probe(svc: ServiceConfig, ctx: DriverContext): Promise<Probe> {
    const ok = await healthy(svc, ctx);
    return ok ? { state: 'awake', healthy: true } : { state: 'down', healthy: false, detail: `no answer on ${svc.healthPath}` };
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
