import type { ServiceAction } from '../engine/actions';

/** The command behind each service action, in the palette and the services view's menus. */
export const ACTION_COMMANDS: Record<ServiceAction, string> = {
  sleep: 'gpumod.sleepService',
  sleepDeep: 'gpumod.sleepServiceDeep',
  wake: 'gpumod.wakeService',
  start: 'gpumod.startService',
  stop: 'gpumod.stopService',
  restart: 'gpumod.restartService',
  logs: 'gpumod.showServiceLogs',
  openEndpoint: 'gpumod.openEndpoint',
};
