import type { Config } from '../src/config/types';
import { driverFor } from '../src/drivers/registry';
import type { Logger } from '../src/engine/logger';
import type { HttpClient } from '../src/engine/machinePorts';
import type { SystemdAdapter } from '../src/system/systemd';

/**
 * The switch a stop/start tool does, for comparison: stop every running service the target does not
 * need, then start each missing one, one at a time, each awaited until it serves (systemctl start,
 * then the driver's awaitReady, which for a llama.cpp router includes loading the model). Nothing
 * ever sleeps, so every return to a mode is a cold start.
 */

export interface NaiveStep {
  service: string;
  action: 'stop' | 'start';
  ms: number;
}

export interface NaivePorts {
  systemd: SystemdAdapter;
  http: HttpClient;
  log: Logger;
}

const UP = new Set(['active', 'activating', 'reloading']);

export async function naiveSwitch(
  config: Config,
  target: string,
  ports: NaivePorts,
  signal: AbortSignal,
  onStep: (s: NaiveStep) => void,
): Promise<NaiveStep[]> {
  const wanted = new Set(config.modes.get(target)?.services ?? []);
  const up = new Set<string>();
  for (const svc of config.services.values()) {
    if (UP.has((await ports.systemd.show(svc.unit, { signal, timeoutMs: 10_000 })).activeState)) up.add(svc.name);
  }
  const steps: NaiveStep[] = [];
  const step = async (service: string, action: NaiveStep['action'], fn: () => Promise<void>): Promise<void> => {
    const t0 = performance.now();
    await fn();
    const s = { service, action, ms: performance.now() - t0 };
    steps.push(s);
    onStep(s);
  };
  for (const svc of config.services.values()) {
    if (!up.has(svc.name) || wanted.has(svc.name)) continue;
    await step(svc.name, 'stop', () => ports.systemd.stop(svc.unit, { signal, timeoutMs: svc.stopTimeoutMs }));
  }
  for (const name of wanted) {
    if (up.has(name)) continue;
    const svc = config.services.get(name);
    if (!svc) throw new Error(`mode ${target} names unknown service ${name}`);
    await step(name, 'start', async () => {
      await ports.systemd.start(svc.unit, { signal, timeoutMs: svc.startupTimeoutMs });
      await driverFor(svc).awaitReady(svc, { http: ports.http, log: ports.log, signal }, svc.startupTimeoutMs);
    });
  }
  return steps;
}
