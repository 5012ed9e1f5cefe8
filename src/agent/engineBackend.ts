import type { Config } from '../config/types';
import type { EnginePorts } from '../engine/ports';
import { previewPlan, serviceAction, switchMode } from '../engine/switcher';
import { statusReport } from './reports';
import type { ToolBackend } from './tools';

/**
 * The tools run straight on the engine, in this process (`gpumod mcp`): the same switch, lock and
 * records as `gpumod switch`. `owner` is what another window reads while this one holds the lock.
 */
export function engineBackend(config: Config, ports: EnginePorts, owner: string): ToolBackend {
  return {
    status: async (signal) => (await statusReport(config, ports, signal)).json,
    plan: async (mode, signal) => (await previewPlan(config, mode, ports, { signal })).plan,
    switchMode: (mode, signal, progress) => switchMode(config, mode, ports, { signal, owner: `${owner}: switch ${mode}`, onPlan: progress.plan, onStep: progress.step }),
    serviceAction: (service, action, signal, progress) => serviceAction(config, service, action, ports, { signal, owner: `${owner}: ${action} ${service}`, onStep: progress.step }),
  };
}
