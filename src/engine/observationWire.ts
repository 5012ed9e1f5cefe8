// An observation as JSON and back: the gateway observes once for every window that follows its events.
// What comes back over a socket is checked field by field (another program may hold the port): a
// malformed observation is refused whole, never half-rendered.
import type { SleepDepth } from './driverPort';
import type { GpuInfo, GpuProcess, GpuSnapshot, UnitStatus } from './machinePorts';
import type { Observation, ServiceObservation, ServiceState } from './types';

export interface ObservationWire {
  at: number;
  services: ServiceObservation[];
  gpu: GpuSnapshot;
  foreignMb: Array<[number, number]>;
  routerMb?: Array<[string, number]>;
}

export function toWire(obs: Observation): ObservationWire {
  return {
    at: obs.at,
    services: [...obs.services.values()],
    gpu: obs.gpu,
    foreignMb: [...obs.foreignMb],
    ...(obs.routerMb ? { routerMb: [...obs.routerMb] } : {}),
  };
}

const STATES: readonly ServiceState[] = ['stopped', 'starting', 'running', 'sleeping', 'waking', 'stopping', 'failed', 'unknown'];
const DEPTHS: readonly SleepDepth[] = ['l1', 'l2', 'router', 'hook', 'idle'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optNum = (v: unknown): v is number | undefined => v === undefined || num(v);
const str = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown): v is string | undefined => v === undefined || str(v);

/** Thrown inside the checks; caught once at the top. */
class Malformed extends Error {}
function need(ok: boolean): void {
  if (!ok) throw new Malformed();
}

function unitOf(v: unknown): UnitStatus | undefined {
  if (v === undefined) return undefined;
  need(isObj(v));
  const u = v as Obj;
  for (const k of ['unit', 'loadState', 'activeState', 'subState', 'result', 'controlGroup']) need(str(u[k]));
  for (const k of ['mainPid', 'execMainStatus', 'nRestarts', 'stateChangeUs']) need(num(u[k]));
  need(optStr(u.execStart));
  return u as unknown as UnitStatus;
}

/** MB per GPU index, as JSON writes it (index keys as strings). */
function byGpuOf(v: unknown): Record<number, number> {
  need(isObj(v));
  const out: Record<number, number> = {};
  for (const [k, mb] of Object.entries(v as Obj)) {
    need(/^\d{1,2}$/.test(k) && typeof mb === 'number' && Number.isFinite(mb) && mb >= 0);
    out[Number(k)] = mb as number;
  }
  return out;
}

function serviceOf(v: unknown): ServiceObservation {
  need(isObj(v));
  const o = v as Obj;
  need(str(o.name) && STATES.includes(o.state as ServiceState) && typeof o.healthy === 'boolean');
  need(o.sleep === undefined || DEPTHS.includes(o.sleep as SleepDepth));
  need(optNum(o.vramMb) && optNum(o.ramMb) && optNum(o.modelsMax) && optStr(o.detail));
  const unit = unitOf(o.unit);
  return {
    name: o.name as string,
    state: o.state as ServiceState,
    healthy: o.healthy as boolean,
    ...(o.sleep !== undefined ? { sleep: o.sleep as SleepDepth } : {}),
    ...(o.vramMb !== undefined ? { vramMb: o.vramMb as number } : {}),
    ...(o.vramByGpu !== undefined ? { vramByGpu: byGpuOf(o.vramByGpu) } : {}),
    ...(o.ramMb !== undefined ? { ramMb: o.ramMb as number } : {}),
    ...(unit ? { unit } : {}),
    ...(o.detail !== undefined ? { detail: o.detail as string } : {}),
    ...(o.modelsMax !== undefined ? { modelsMax: o.modelsMax as number } : {}),
  };
}

function processOf(v: unknown): GpuProcess {
  need(isObj(v));
  const p = v as Obj;
  need(num(p.pid) && optNum(p.usedMb) && optStr(p.unit));
  need(p.command === undefined || (Array.isArray(p.command) && p.command.every(str)));
  return { pid: p.pid as number, usedMb: p.usedMb as number | undefined, ...(p.unit !== undefined ? { unit: p.unit as string } : {}), ...(p.command ? { command: p.command as string[] } : {}) };
}

function gpuOf(v: unknown): GpuSnapshot {
  need(isObj(v));
  const g = v as Obj;
  if (g.available === false) {
    need(str(g.reason));
    return { available: false, reason: g.reason as string };
  }
  need(g.available === true && num(g.ms) && Array.isArray(g.gpus));
  const gpus = (g.gpus as unknown[]).map((c): GpuInfo => {
    need(isObj(c));
    const x = c as Obj;
    need(num(x.index) && str(x.uuid) && str(x.name) && optNum(x.totalMb) && optNum(x.usedMb) && optNum(x.freeMb) && Array.isArray(x.processes));
    return {
      index: x.index as number,
      uuid: x.uuid as string,
      name: x.name as string,
      totalMb: x.totalMb as number | undefined,
      usedMb: x.usedMb as number | undefined,
      freeMb: x.freeMb as number | undefined,
      processes: (x.processes as unknown[]).map(processOf),
    };
  });
  return { available: true, gpus, ms: g.ms as number };
}

function pairs<K>(v: unknown, key: (k: unknown) => k is K): Map<K, number> {
  need(Array.isArray(v));
  return new Map(
    (v as unknown[]).map((e) => {
      need(Array.isArray(e) && e.length === 2 && key(e[0]) && num(e[1]));
      return [(e as [K, number])[0], (e as [K, number])[1]];
    }),
  );
}

/** The observation `toWire` wrote, or undefined when anything in it has the wrong shape. */
export function fromWire(v: unknown): Observation | undefined {
  try {
    need(isObj(v));
    const w = v as Obj;
    need(num(w.at) && Array.isArray(w.services));
    const services = new Map((w.services as unknown[]).map(serviceOf).map((o) => [o.name, o]));
    return {
      at: w.at as number,
      services,
      gpu: gpuOf(w.gpu),
      foreignMb: pairs(w.foreignMb, num),
      ...(w.routerMb !== undefined ? { routerMb: pairs(w.routerMb, str) } : {}),
    };
  } catch (e) {
    if (e instanceof Malformed) return undefined;
    throw e;
  }
}
