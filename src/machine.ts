import { stateDir } from './config/paths';
import type { Config } from './config/types';
import { driverFor } from './drivers/registry';
import { systemClock } from './engine/clock';
import type { EnginePorts } from './engine/ports';
import { asFootprints } from './engine/footprints';
import { asSwitchRecords, asSwitchState } from './engine/records';
import { createGpu } from './system/gpu';
import { createHttpClient, type ClosableHttpClient } from './system/http';
import { acquireLock } from './system/lock';
import { procStartTime } from './system/pids';
import type { Logger } from './engine/logger';
import type { Env } from './system/process';
import { createJsonFiles } from './system/switchFiles';
import { createSystemd, type SystemdAdapter } from './system/systemd';

/** The real machine behind the engine's ports, shared by the CLI and the extension. */
export interface Machine {
  ports: EnginePorts;
  systemd: SystemdAdapter;
  http: ClosableHttpClient;
  stateDir: string;
  close(): Promise<void>;
}

export function createMachine(config: Config, log: Logger, env: Env = process.env): Machine {
  const dir = stateDir(env);
  const files = createJsonFiles(dir, log);
  const systemd = createSystemd(log, { env, watch: true });
  const http = createHttpClient(log, { allowedHosts: config.allowedHosts });
  const ports: EnginePorts = {
    systemd,
    gpu: createGpu(log, { env }),
    drivers: driverFor,
    http,
    log,
    clock: systemClock,
    pid: process.pid,
    procStart: procStartTime(process.pid),
    store: {
      readState: async () => asSwitchState(await files.readState()),
      writeState: (s) => files.writeState(s),
      appendHistory: (r) => files.appendHistory(r),
      readHistory: async (limit) => {
        const { records, ignored } = asSwitchRecords(await files.readHistory(limit));
        if (ignored) log.warn(`history: ignored ${ignored} record(s) with a wrong shape or out-of-range times`);
        return records;
      },
      readFootprints: async () => asFootprints(await files.readFootprints()),
      writeFootprints: (f) => files.writeFootprints(f),
    },
    lock: {
      acquire: (owner) => acquireLock(dir, { owner: { pid: process.pid, command: owner.command, target: owner.target } }),
    },
  };
  const close = (): Promise<void> => {
    systemd.close();
    return http.close();
  };
  return { ports, systemd, http, stateDir: dir, close };
}
