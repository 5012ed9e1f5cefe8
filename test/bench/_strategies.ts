// The three ways of switching the benchmark compares, on the same real machine (systemd units running
// the fakes, the fake nvidia-smi), each timed from the call to the return:
//   naive       what a stop/start tool does: stop every running service the target does not need, one
//               at a time, then start each missing one, one at a time, each awaited until ready
//               (systemctl start + the driver's awaitReady, i.e. runAction 'start'). It leaves no sleepers.
//   sequential  gpumod's own plan (previewPlan: the same observation and planner), its steps run one
//               after another as the original tool did: the releases in plan order, the same wait for
//               the GPU to show the memory freed (skipped, as gpumod does, when the card already has
//               room for what comes in), the acquisitions in plan order, then the same verifying
//               observation of the services. Only the parallelism differs from gpumod; none of the
//               original's fixed 15 s settle pause.
//   gpumod      switchMode: lock, observe, plan, parallel phases, verify, state and history.
import type { Config } from '../../src/config/types';
import { observe } from '../../src/engine/observe';
import type { EnginePorts } from '../../src/engine/ports';
import { runAction, type RunAction, type StepEvent } from '../../src/engine/steps';
import { previewPlan, switchMode } from '../../src/engine/switcher';
import type { PlanStep, ServiceState } from '../../src/engine/types';
import { freeMb, waitBoundMs, waitForFreedMemory, type Released } from '../../src/engine/waitFree';
import type { Gpu, GpuSnapshot } from '../../src/engine/machinePorts';
import { loadavg } from 'node:os';
import type { FirstRequest } from './_firstToken';
import type { BenchAction, BenchStep } from './_latency';

export type Strategy = 'naive' | 'sequential' | 'gpumod';

export interface Run {
  strategy: Strategy;
  from: string;
  to: string;
  wallMs: number;
  steps: BenchStep[];
  /** gpumod only: whether the executor waited for the GPU to show freed memory. */
  waitedForFreed: boolean;
  /** Wall time spent inside nvidia-smi queries during the run (union of their intervals). */
  gpuQueryMs: number;
  /** Wall time of the wait for the GPU to show freed memory, and the part of it inside nvidia-smi queries. */
  waitFreeMs: number;
  gpuQueryInWaitMs: number;
  notes: string[];
  /** performance.now() when the switch returned. */
  endedAt: number;
  /** The 1-minute load average when the switch returned. */
  load: number;
  /** Measured switches: each incoming service's first answer (test/bench/_firstToken.ts). */
  firstRequests?: FirstRequest[];
}

/** The ports of one workstation, with every nvidia-smi query's interval recorded. */
export interface BenchMachine {
  config: Config;
  ports: EnginePorts;
  signal: AbortSignal;
  gpuSpans: Array<[number, number]>;
}

export function instrumentGpu(inner: Gpu, spans: Array<[number, number]>): Gpu {
  return {
    async snapshot(opts) {
      const a = performance.now();
      try {
        return await inner.snapshot(opts);
      } finally {
        spans.push([a, performance.now()]);
      }
    },
    // The engine follows the GPU (nvidia-smi's loop mode) during a switch: waiting for a sample is the
    // time inside nvidia-smi, counted above.
    ...(inner.follow ? { follow: (periodMs: number) => inner.follow!(periodMs) } : {}),
  };
}

/** Total length of the union of the intervals that fall within [from, to]. */
export function coveredMs(spans: Array<[number, number]>, from: number, to: number): number {
  const clipped = spans
    .map(([a, b]): [number, number] => [Math.max(a, from), Math.min(b, to)])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of clipped) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

const UP: string[] = ['active', 'activating', 'reloading'];
const HOLDS: ServiceState[] = ['running', 'starting', 'waking'];

async function act(m: BenchMachine, service: string, action: RunAction, depth?: BenchStep['depth']): Promise<void> {
  const svc = m.config.services.get(service);
  if (!svc) throw new Error(`unknown service ${service}`);
  await runAction(svc, action, depth, m.ports, m.signal);
  if (action !== 'sleep' && action !== 'stop' && svc.readiness) await runAction(svc, 'ready', undefined, m.ports, m.signal);
}

type Measured = 'strategy' | 'from' | 'to' | 'wallMs' | 'gpuQueryMs' | 'waitFreeMs' | 'gpuQueryInWaitMs' | 'endedAt' | 'load';

/** The body's result, with the interval (performance.now()) of its wait for freed memory if it waited. */
type Body = Omit<Run, Measured> & { waitFree?: [number, number] };

async function timedRun(m: BenchMachine, strategy: Strategy, from: string, to: string, body: () => Promise<Body>): Promise<Run> {
  const t0 = performance.now();
  const { waitFree, ...r } = await body();
  const t1 = performance.now();
  return {
    strategy,
    from,
    to,
    wallMs: t1 - t0,
    gpuQueryMs: coveredMs(m.gpuSpans, t0, t1),
    waitFreeMs: waitFree ? waitFree[1] - waitFree[0] : 0,
    gpuQueryInWaitMs: waitFree ? coveredMs(m.gpuSpans, waitFree[0], waitFree[1]) : 0,
    endedAt: t1,
    load: loadavg()[0],
    ...r,
  };
}

export function naiveSwitch(m: BenchMachine, from: string, to: string): Promise<Run> {
  return timedRun(m, 'naive', from, to, async () => {
    const wanted = m.config.modes.get(to)?.services ?? [];
    const services = [...m.config.services.values()];
    const units = new Map(await Promise.all(services.map(async (s) => [s.name, (await m.ports.systemd.show(s.unit, { signal: m.signal })).activeState] as const)));
    const steps: BenchStep[] = [];
    for (const s of services) {
      if (wanted.includes(s.name) || !UP.includes(units.get(s.name) ?? '')) continue;
      await act(m, s.name, 'stop');
      steps.push({ service: s.name, action: 'stop' });
    }
    for (const name of wanted) {
      if (UP.includes(units.get(name) ?? '')) continue;
      await act(m, name, 'start');
      steps.push({ service: name, action: 'start' });
    }
    return { steps, waitedForFreed: false, notes: [] };
  });
}

export function sequentialSwitch(m: BenchMachine, from: string, to: string): Promise<Run> {
  return timedRun(m, 'sequential', from, to, async () => {
    const { plan, observation } = await previewPlan(m.config, to, m.ports, { signal: m.signal });
    if (plan.refused) throw new Error(`plan refused: ${plan.refused.reason}`);
    const release = plan.steps.filter((s) => s.action === 'sleep' || s.action === 'stop');
    const acquire = plan.steps.filter((s) => s.action === 'wake' || s.action === 'load' || s.action === 'start');
    const steps: BenchStep[] = [];
    for (const s of release) {
      await act(m, s.service, s.action as RunAction, s.depth);
      steps.push({ service: s.service, action: s.action as BenchAction, depth: s.depth });
    }
    const waited = release.length > 0 && !(acquire.length > 0 && roomForAll(m.config, acquire, observation.gpu));
    let waitFree: [number, number] | undefined;
    if (waited) {
      const w0 = performance.now();
      const released: Released[] = release.map((s) => ({
        svc: m.config.services.get(s.service)!,
        action: s.action as 'sleep' | 'stop',
        wasAwake: HOLDS.includes(s.fromState),
      }));
      await waitForFreedMemory(released, observation.gpu, m.ports, m.signal, waitBoundMs(released));
      waitFree = [w0, performance.now()];
    }
    for (const s of acquire) {
      await act(m, s.service, s.action as RunAction, s.action === 'start' ? undefined : s.fromSleep);
      steps.push({ service: s.service, action: s.action as BenchAction, depth: s.fromSleep });
    }
    if (!plan.noop) {
      const after = await observe(m.config, m.ports, m.signal, { gpu: { available: false, reason: 'not queried to verify' } });
      const bad = plan.steps.filter((s) => s.incoming && after.services.get(s.service)?.state !== 'running');
      if (bad.length > 0) throw new Error(`sequential ${from} → ${to}: ${bad.map((s) => s.service).join(', ')} not running afterwards`);
    }
    return { steps, waitedForFreed: waited, notes: plan.notes, waitFree };
  });
}

/** The executor's rule: the card shows room (with the margin) for every incoming service before anything is released. */
function roomForAll(config: Config, acquire: PlanStep[], snap: GpuSnapshot): boolean {
  const need = acquire.reduce((t, s) => {
    const svc = config.services.get(s.service)!;
    return t + svc.vramMb - (s.fromState === 'sleeping' ? svc.sleepVramMb : HOLDS.includes(s.fromState) ? svc.vramMb : 0);
  }, 0);
  const free = freeMb(snap, 0);
  return free !== undefined && free - config.budget.marginMb >= need;
}

export function gpumodSwitch(m: BenchMachine, from: string, to: string): Promise<Run> {
  return timedRun(m, 'gpumod', from, to, async () => {
    let waitBegan: number | undefined;
    let waitFree: [number, number] | undefined;
    const onStep = (e: StepEvent): void => {
      if (e.kind === 'begin' && e.action === 'wait-free') waitBegan = performance.now();
      if (e.kind === 'end' && e.entry.action === 'wait-free' && waitBegan !== undefined && e.entry.result !== 'skipped') waitFree = [waitBegan, performance.now()];
    };
    const r = await switchMode(m.config, to, m.ports, { signal: m.signal, owner: 'gpumod bench', onStep });
    if (!r.ok) throw new Error(`gpumod ${from} → ${to}: ${r.message}`);
    const steps: BenchStep[] = r.timeline
      .filter((e) => (e.phase === 'release' || e.phase === 'acquire') && ['sleep', 'stop', 'wake', 'load', 'start'].includes(e.action))
      .map((e) => ({ service: e.service, action: e.action as BenchAction, depth: e.depth }));
    const wait = r.timeline.find((e) => e.action === 'wait-free');
    return { steps, waitedForFreed: wait !== undefined && wait.result !== 'skipped', notes: r.plan.notes, waitFree };
  });
}

export const SWITCHERS: Record<Strategy, (m: BenchMachine, from: string, to: string) => Promise<Run>> = {
  naive: naiveSwitch,
  sequential: sequentialSwitch,
  gpumod: gpumodSwitch,
};
