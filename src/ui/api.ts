import type { Controller } from './controller';
import type { ExtensionCosts } from './costMeter';
import type { AskedConfirmation } from './lmTools';
import type { ServicesView } from './servicesView';
import { statusBarModel } from './viewModel';

/**
 * What the extension exports (`extensions.getExtension('gpumod.gpumod').exports`): a read-only view
 * of what the window shows, for other extensions and for the host tests.
 */
export interface GpumodApi {
  readonly version: 1;
  /** The current mode as observed, undefined when the machine is in no mode. */
  mode(): string | undefined;
  statusBar(): { text: string; tooltip: string; command?: string; warning: boolean };
  /** The services view's rows for services: name, description, state and the menu context. */
  services(): { name: string; state: string; sleep?: string; description: string; contextValue: string }[];
  switching(): { from?: string; to: string } | undefined;
  /** Resolves after the next observation. */
  refresh(): Promise<void>;
  /** What gpumod costs this window: its startup times, its host's PID, the observations made so far. */
  costs(): ExtensionCosts;
  /** The last confirmation a language-model tool asked the user for (its title and text). */
  lastToolConfirmation(): AskedConfirmation | undefined;
  /**
   * The services view's gateway row, when the config has a gateway or one answers; `following`: the
   * window renders the gateway's events instead of polling; `windowLooks`: the window's own looks so far.
   */
  gateway(): { description: string; tooltip: string; running: boolean; following: boolean; windowLooks: number } | undefined;
}

export function createApi(controller: Controller, view: ServicesView, costs: () => ExtensionCosts, lastToolConfirmation: () => AskedConfirmation | undefined): GpumodApi {
  return {
    version: 1,
    mode: () => controller.state.mode,
    statusBar: () => statusBarModel(controller.state, Date.now()),
    services: () =>
      [...(controller.config?.services.keys() ?? [])].map((name) => {
        const item = view.getTreeItem({ kind: 'service', name });
        const o = controller.state.observation?.services.get(name);
        return { name, state: o?.state ?? 'unknown', sleep: o?.sleep, description: String(item.description ?? ''), contextValue: item.contextValue ?? '' };
      }),
    switching: () => controller.state.switching,
    refresh: () => controller.refresh(),
    costs,
    lastToolConfirmation,
    gateway: () => {
      const g = controller.state.gateway;
      if (!g) return undefined;
      const item = view.getTreeItem({ kind: 'gateway' });
      return { description: String(item.description ?? ''), tooltip: String(item.tooltip ?? ''), running: g.running, following: controller.followingGateway, windowLooks: controller.looks };
    },
  };
}
