import { endpointKey } from './hosts';
import type { Config, DriverKind } from './types';

/** What decides whether two services compete for one socket. */
export interface Endpoint {
  driver: DriverKind;
  unit: string;
  host: string;
  port: number;
}

/** Models of one llama.cpp router: one process (unit) serving several models on its port. */
export function sameRouter(a: Endpoint, b: Endpoint): boolean {
  return a.driver === 'llamacpp' && b.driver === 'llamacpp' && a.unit === b.unit;
}

/**
 * Two services are alternatives when they listen on the same host:port as different processes:
 * only one can run at a time, so starting one means stopping the other first.
 */
export function areAlternatives(a: Endpoint, b: Endpoint): boolean {
  return endpointKey(a.host, a.port) === endpointKey(b.host, b.port) && !sameRouter(a, b);
}

/** The services that must be stopped before `name` can start (its port-mates), in config order. */
export function alternativesOf(config: Pick<Config, 'services'>, name: string): string[] {
  const svc = config.services.get(name);
  if (!svc) return [];
  return [...config.services.values()].filter((o) => o.name !== name && areAlternatives(svc, o)).map((o) => o.name);
}
