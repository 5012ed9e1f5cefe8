// A bench's workstation: the profile's fakes as units of the bench's sandboxed user manager, its
// config loaded, and the machine gpumod drives it through. Shared by the switch and gateway benches.
import { join } from 'node:path';
import { bringUp, type Workstation, type WorkstationOptions } from '../../demo/workstation';
import { formatProblems, loadConfig } from '../../src/config/load';
import type { Config } from '../../src/config/types';
import { createMachine, type Machine } from '../../src/machine';
import { silentLogger } from '../../src/system/logger';
import { sandboxVars } from '../integration/support/sandbox';

export interface BenchWorkstation {
  ws: Workstation;
  config: Config;
  mc: Machine;
}

/** Brings up `name`'s workstation in `sandbox` (the rest of the options as bringUp takes them). */
export async function benchWorkstation(sandbox: string, name: string, opts: Omit<WorkstationOptions, 'dir' | 'managerEnv' | 'unitDir' | 'log'>): Promise<BenchWorkstation> {
  const env = sandboxVars(sandbox);
  const ws = await bringUp({ ...opts, dir: join(sandbox, name), managerEnv: env, unitDir: join(env.XDG_CONFIG_HOME, 'systemd/user'), log: silentLogger });
  const loaded = await loadConfig(ws.configPath);
  if (!loaded.ok) {
    await ws.teardown();
    throw new Error(formatProblems(loaded.problems));
  }
  return { ws, config: loaded.config, mc: createMachine(loaded.config, silentLogger, { ...process.env, ...ws.env }) };
}
