import type { Config, ServiceConfig } from '../config/types';
import type { Probe } from './driverPort';
import { errorMessage } from '../errors';
import type { GpuSnapshot, UnitLook, UnitStatus } from './machinePorts';
import { classify } from './classify';
import { attributeRouterProcess, sharedRouters } from './routers';
import { cancelledError, withDeadline } from './deadline';
import type { ObservePorts } from './ports';
import type { Observation, ServiceObservation } from './types';

/** A status must not hang on one wedged server. */
const PROBE_TIMEOUT_MS = 5000;
const SHOW_TIMEOUT_MS = 5000;
/** A second look before a switch plans around a service it could not see: a busy server gets longer. */
export const SECOND_LOOK_TIMEOUT_MS = 15_000;

/**
 * Every configured service and the GPU, in parallel: one `systemctl show` of all units, then the
 * drivers' probes side by side. `gpu` stands in for the GPU query when the caller needs only the
 * services' states; `gpuMaxAgeMs` lets a periodic status look take the GPU watch's latest sample.
 */
export async function observe(
  config: Config,
  ports: ObservePorts,
  signal: AbortSignal,
  opts: { gpu?: GpuSnapshot; gpuMaxAgeMs?: number; expectActive?: ReadonlySet<string> } = {},
): Promise<Observation> {
  const [gpu, list] = await Promise.all([
    opts.gpu ?? snapshot(ports, signal, opts.gpuMaxAgeMs),
    observeServices([...config.services.values()], ports, signal, PROBE_TIMEOUT_MS, opts.expectActive),
  ]);
  return assemble(config, ports, signal, list, gpu);
}

/** The GPU's look that `observeApart` does not wait for. */
const GPU_NOT_AWAITED: GpuSnapshot = { available: false, reason: 'the services alone answered' };

/**
 * The same look as observe(), with the services' part available first: `services` (the GPU not
 * awaited) as soon as the services are seen, `full` when the GPU is too. `gpuSignal` cancels the GPU's
 * part alone (a caller that decided from the services).
 */
export function observeApart(config: Config, ports: ObservePorts, signal: AbortSignal, gpuSignal: AbortSignal): { services: Promise<Observation>; full: Promise<Observation> } {
  const gpu = snapshot(ports, gpuSignal);
  const list = observeServices([...config.services.values()], ports, signal, PROBE_TIMEOUT_MS);
  const services = list.then((l) => assemble(config, ports, signal, l, GPU_NOT_AWAITED));
  const full = Promise.all([gpu, list]).then(([g, l]) => assemble(config, ports, signal, l, g));
  full.catch(() => undefined); // awaited only when the services did not decide
  return { services, full };
}

/** One observation from the services' looks and the GPU's: each GPU process counted to its service. */
function assemble(config: Config, ports: ObservePorts, signal: AbortSignal, list: readonly ServiceObservation[], gpu: GpuSnapshot): Observation {
  if (signal.aborted) throw cancelledError('observe');
  // Copies: the services' looks may be assembled twice (observeApart), the GPU's figures once.
  const services = new Map<string, ServiceObservation>(list.map((o) => [o.name, { ...o }]));
  const foreignMb = new Map<number, number>();
  const routerMb = new Map<string, number>();
  if (gpu.available) {
    const byUnit = new Map([...config.services.values()].map((s) => [s.unit, s.name]));
    const routers = sharedRouters(config);
    for (const o of services.values()) {
      o.vramMb = 0;
      // Per card only where it tells more than the total: a service on several.
      if ((config.services.get(o.name)?.gpus.length ?? 1) > 1) o.vramByGpu = {};
    }
    for (const g of gpu.gpus) {
      let foreign = 0;
      for (const p of g.processes) {
        if (attributeRouterProcess(routers, { services, routerMb }, p)) continue;
        const name = p.unit ? byUnit.get(p.unit) : undefined;
        const o = name ? services.get(name) : undefined;
        if (o) {
          o.vramMb = (o.vramMb ?? 0) + (p.usedMb ?? 0);
          if (o.vramByGpu) o.vramByGpu[g.index] = (o.vramByGpu[g.index] ?? 0) + (p.usedMb ?? 0);
        } else foreign += p.usedMb ?? 0;
      }
      foreignMb.set(g.index, foreign);
    }
  }
  return { at: ports.clock.now(), services, gpu, foreignMb, routerMb };
}

/** Whether a second, longer look might tell: not for a unit that does not exist or is masked. */
export function worthASecondLook(o: ServiceObservation): boolean {
  return o.state === 'unknown' && o.unit?.loadState !== 'not-found' && o.unit?.loadState !== 'masked';
}

/**
 * The services that could not be observed, looked at again with a longer deadline (a server busy
 * loading may answer /is_sleeping slowly): a switch must not plan around a state it guessed.
 */
export async function lookAgainAtUnknown(config: Config, obs: Observation, ports: ObservePorts, signal: AbortSignal): Promise<Observation> {
  const again = [...obs.services.values()].filter(worthASecondLook);
  if (again.length === 0) return obs;
  ports.log.info(`looking again at ${again.map((o) => o.name).join(', ')} (state unknown) with a ${SECOND_LOOK_TIMEOUT_MS / 1000} s deadline`);
  const seen = await observeServices(again.map((o) => config.services.get(o.name)!), ports, signal, SECOND_LOOK_TIMEOUT_MS);
  const services = new Map(obs.services);
  for (const o of seen) services.set(o.name, { ...o, vramMb: obs.services.get(o.name)?.vramMb });
  return { ...obs, services };
}

async function snapshot(ports: ObservePorts, signal: AbortSignal, maxAgeMs?: number): Promise<GpuSnapshot> {
  try {
    return await ports.gpu.snapshot({ signal, timeoutMs: SHOW_TIMEOUT_MS, ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) });
  } catch (e) {
    return { available: false, reason: errorMessage(e) };
  }
}

/** The part of a process error worth a tooltip: its last line (stderr), without the command line. */
function lastLine(message: string): string {
  const tail = message.split(/\n|: exited \d+: | exited \d+: /).filter((s) => s.trim()).pop() ?? message;
  return tail.trim();
}

/** Observes one service; never throws (a failed look is an `unknown` state with the reason). */
export async function observeService(svc: ServiceConfig, ports: ObservePorts, signal: AbortSignal, timeoutMs = PROBE_TIMEOUT_MS): Promise<ServiceObservation> {
  return (await observeServices([svc], ports, signal, timeoutMs))[0];
}

/**
 * Observes `svcs`, in their order: their units in one `showMany` (services sharing a unit, the models
 * of one router, share its answer), then every probe in parallel. The services in `expectActive` are
 * probed while systemd answers (a probe needs nothing from it): their probe counts only if the unit
 * turns out active, and the look saves systemctl's round trip. Never throws.
 */
export async function observeServices(
  svcs: readonly ServiceConfig[],
  ports: ObservePorts,
  signal: AbortSignal,
  timeoutMs = PROBE_TIMEOUT_MS,
  expectActive?: ReadonlySet<string>,
): Promise<ServiceObservation[]> {
  const early = new Map(svcs.filter((s) => expectActive?.has(s.name)).map((s) => [s.name, probeService(s, ports, signal, timeoutMs)]));
  const units = [...new Set(svcs.map((s) => s.unit))];
  let looks: UnitLook[];
  try {
    looks = await ports.systemd.showMany(units, { signal, timeoutMs: Math.max(SHOW_TIMEOUT_MS, timeoutMs) });
    if (looks.length !== units.length) throw new Error(`showMany answered ${looks.length} of ${units.length} units`);
  } catch (reason) {
    looks = units.map(() => ({ status: 'rejected', reason }));
  }
  const byUnit = new Map(units.map((u, i) => [u, looks[i]]));
  return Promise.all(svcs.map((svc) => seeService(svc, byUnit.get(svc.unit)!, ports, signal, timeoutMs, early.get(svc.name))));
}

/** The driver's probe of `svc` within `timeoutMs`; a failure is an `error` probe, never a throw. */
async function probeService(svc: ServiceConfig, ports: ObservePorts, signal: AbortSignal, timeoutMs: number, unit?: UnitStatus): Promise<Probe> {
  const driver = ports.drivers(svc);
  try {
    return await withDeadline(ports.clock, timeoutMs, signal, `probe ${svc.name}`, (s) => driver.probe(svc, { http: ports.http, log: ports.log, signal: s }, unit));
  } catch (e) {
    return { state: 'error', healthy: false, detail: `probe failed: ${errorMessage(e)}` };
  }
}

/** One service from its unit's status: the driver's probe where a process runs, the RAM of a sleeper. */
async function seeService(svc: ServiceConfig, look: UnitLook, ports: ObservePorts, signal: AbortSignal, timeoutMs: number, early?: Promise<Probe>): Promise<ServiceObservation> {
  if (look.status === 'rejected') return { name: svc.name, state: 'unknown', healthy: false, detail: `systemd: ${lastLine(errorMessage(look.reason))}` };
  const unit: UnitStatus = look.value;
  let probe: Probe | undefined;
  if (unit.activeState === 'active' || unit.activeState === 'reloading') probe = await (early ?? probeService(svc, ports, signal, timeoutMs, unit));
  const c = classify(unit, probe);
  const o: ServiceObservation = { name: svc.name, ...c, unit, ...(probe?.modelsMax !== undefined ? { modelsMax: probe.modelsMax } : {}) };
  // L2 sleepers hold no weights in RAM, and awake servers' RSS is not in any budget: read only what counts.
  if (c.state === 'sleeping' && c.sleep !== 'l2' && ports.systemd.rssMb) {
    try {
      const ram = await ports.systemd.rssMb(unit);
      if (ram !== undefined) o.ramMb = ram;
    } catch {
      /* an unreadable /proc leaves the declared figure in use */
    }
  }
  return o;
}
