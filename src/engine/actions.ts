import type { DriverCapabilities, SleepDepth } from './driverPort';
import type { ServiceObservation, ServiceState } from './types';

/**
 * The actions a user may take on one service, by its observed state and its driver's capabilities.
 * The services view's context menus are generated from the same table (`contextValue`), and a test
 * checks package.json's `when` clauses against it.
 */
export type ServiceAction = 'sleep' | 'sleepDeep' | 'wake' | 'start' | 'stop' | 'restart' | 'logs' | 'openEndpoint';

export const ALL_ACTIONS: ServiceAction[] = ['sleep', 'sleepDeep', 'wake', 'start', 'stop', 'restart', 'logs', 'openEndpoint'];

export function validActions(state: ServiceState, caps: DriverCapabilities, sleep?: SleepDepth): ServiceAction[] {
  // Sleep is at the service's own depth (its first level); Sleep (deep) only where L2 is deeper than that.
  const shallow = caps.sleepLevels.length > 0;
  const deep = caps.sleepLevels.includes('l2') && caps.sleepLevels[0] !== 'l2';
  switch (state) {
    case 'running':
      return [...(shallow ? ['sleep' as const] : []), ...(deep ? ['sleepDeep' as const] : []), 'stop', 'restart', 'logs', 'openEndpoint'];
    case 'sleeping':
      // A router's idle model still holds memory: sleeping it unloads it.
      if (sleep === 'idle') return ['sleep', 'wake', 'stop', 'restart', 'logs'];
      return [...(caps.canWake ? ['wake' as const] : []), 'stop', 'restart', 'logs'];
    case 'stopped':
      return ['start', 'logs'];
    case 'failed':
      return ['start', 'stop', 'logs'];
    case 'starting':
    case 'waking':
    case 'stopping':
      return ['stop', 'logs'];
    case 'unknown':
      return ['logs'];
  }
}

/**
 * `svc:<state> +<action> …`, e.g. `svc:sleeping +wake +stop +restart +logs`: menus match
 * `viewItem =~ /^svc:.* \+wake( |$)/`, so an item shows exactly the actions valid for it.
 */
export function contextValue(obs: Pick<ServiceObservation, 'state' | 'sleep'>, caps: DriverCapabilities): string {
  return [`svc:${obs.state}`, ...validActions(obs.state, caps, obs.sleep).map((a) => `+${a}`)].join(' ');
}
