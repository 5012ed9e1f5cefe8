import type { ServiceConfig } from '../config/types';
import { GpumodError } from '../errors';
import { awaitHealth, healthProbe, runReadiness } from './common';
import type { Driver, DriverCapabilities, DriverContext } from '../engine/driverPort';

/** Services without sleep support: systemd starts and stops them; health tells whether they serve. */
export const plainSystemdDriver: Driver = {
  kind: 'systemd',

  capabilities(): DriverCapabilities {
    return { sleepLevels: [], canWake: false, canDrain: false };
  },

  probe: healthProbe,

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
