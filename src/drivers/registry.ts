import type { DriverKind, ServiceConfig } from '../config/types';
import type { Driver } from '../engine/driverPort';
import { httpHooksDriver } from './httpHooks';
import { llamacppDriver } from './llamacpp';
import { plainSystemdDriver } from './plainSystemd';
import { vllmDriver } from './vllm';

const DRIVERS: Record<DriverKind, Driver> = {
  vllm: vllmDriver,
  llamacpp: llamacppDriver,
  http: httpHooksDriver,
  systemd: plainSystemdDriver,
};

export function driverFor(svc: ServiceConfig): Driver {
  return DRIVERS[svc.driver];
}
