// What the fakes themselves take for each step, from the profile's figures (demo/profile.ts, the fakes'
// options) divided by the time scale: the part of a switch no manager can avoid. The benchmark's
// "engine overhead" is a switch's wall time minus this critical path.
//
// Critical path of one switch, for the steps the plan ran (real-world ms, then / time scale):
//   release  = max over sleeps and stops of busy(step)                 (they run in parallel)
//   freed    = max over them of busy(step) + lag(step), minus release  (only when the engine waited
//              for the GPU to show the memory freed; 0 when it skipped that wait)
//   acquire  = max over wakes, loads and starts of busy(step)          (in parallel; readiness is
//              not configured in the profile)
//   critical = (release + freed + acquire) / timeScale
// with, per fake:
//   vLLM   sleep L1/L2: --sleep-ms-l1/-l2, lag 25 ms      wake L1: --wake-ms-l1
//          wake L2: --wake-ms-l2 + --reload-ms + --wake-ms-kv (the three-step wake)
//          start: --startup-ms
//   llama.cpp router  sleep (unload): --unload-ms, freed when it ends   load: --load-ms
//          start: --startup-ms + --load-ms (a cold router has no model loaded)
//   hook server  sleep: --unload-ms, lag 25 ms   wake: --load-ms   start: --startup-ms + --load-ms (lazy)
//   any    stop: the process exits at 0.7 × --stop-ms, the memory shows freed at --stop-ms
import type { SleepDepth } from '../../src/engine/driverPort';
import { PROFILE, type FakeKind } from '../../demo/profile';

export type BenchAction = 'sleep' | 'stop' | 'wake' | 'load' | 'start';

export interface BenchStep {
  service: string;
  action: BenchAction;
  depth?: SleepDepth;
}

/** Defaults of the fakes' options (test/fakes/*.ts) for those the profile does not set. */
const FAKE_DEFAULTS: Record<FakeKind, Record<string, number>> = {
  vllm: { 'startup-ms': 60000, 'stop-ms': 1000, 'sleep-ms-l1': 500, 'sleep-ms-l2': 100, 'wake-ms-l1': 500, 'wake-ms-l2': 300, 'wake-ms-kv': 50, 'reload-ms': 1500 },
  llamaRouter: { 'startup-ms': 100, 'stop-ms': 1400, 'load-ms': 17000, 'unload-ms': 200 },
  hookServer: { 'startup-ms': 18000, 'stop-ms': 1000, 'load-ms': 2000, 'unload-ms': 200 },
  plainServer: { 'startup-ms': 0, 'stop-ms': 1000 },
};
/** The fakes' release lag after a sleep that keeps the process (test/fakes/lib/common.ts). */
const LIVE_RELEASE_LAG_MS = 25;

function option(name: string, service: string): number {
  const s = PROFILE.find((p) => p.name === service);
  if (!s) throw new Error(`${service} is not in the profile`);
  const i = s.args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(s.args[i + 1]) : FAKE_DEFAULTS[s.fake][name];
  if (v === undefined || !Number.isFinite(v)) throw new Error(`no figure for --${name} of ${service}`);
  return v;
}

function fakeOf(service: string): FakeKind {
  const s = PROFILE.find((p) => p.name === service);
  if (!s) throw new Error(`${service} is not in the profile`);
  return s.fake;
}

/** Real-world ms a step keeps its caller waiting (`busy`) and until the GPU shows its memory freed after that (`lag`). */
export function stepLatency(step: BenchStep): { busy: number; lag: number } {
  const o = (name: string): number => option(name, step.service);
  const fake = fakeOf(step.service);
  switch (step.action) {
    case 'stop':
      return { busy: 0.7 * o('stop-ms'), lag: 0.3 * o('stop-ms') };
    case 'sleep':
      if (fake === 'llamaRouter') return { busy: o('unload-ms'), lag: 0 };
      if (fake === 'hookServer') return { busy: o('unload-ms'), lag: LIVE_RELEASE_LAG_MS };
      return { busy: o(step.depth === 'l2' ? 'sleep-ms-l2' : 'sleep-ms-l1'), lag: LIVE_RELEASE_LAG_MS };
    case 'wake':
    case 'load':
      if (fake === 'llamaRouter' || fake === 'hookServer') return { busy: o('load-ms'), lag: 0 };
      return { busy: step.depth === 'l2' ? o('wake-ms-l2') + o('reload-ms') + o('wake-ms-kv') : o('wake-ms-l1'), lag: 0 };
    case 'start':
      return { busy: o('startup-ms') + (fake === 'llamaRouter' || fake === 'hookServer' ? o('load-ms') : 0), lag: 0 };
  }
}

const isRelease = (s: BenchStep): boolean => s.action === 'sleep' || s.action === 'stop';

/** The critical path of a parallel switch (the formula above), in ms at `timeScale`. */
export function criticalPathMs(steps: BenchStep[], timeScale: number, waitedForFreed: boolean): number {
  const release = steps.filter(isRelease).map(stepLatency);
  const acquire = steps.filter((s) => !isRelease(s)).map(stepLatency);
  const releaseMs = Math.max(0, ...release.map((l) => l.busy));
  const freedMs = waitedForFreed ? Math.max(0, ...release.map((l) => l.busy + l.lag)) - releaseMs : 0;
  const acquireMs = Math.max(0, ...acquire.map((l) => l.busy));
  return (releaseMs + freedMs + acquireMs) / timeScale;
}

/** The slowest wake or load among `steps`, ms at `timeScale` (0 when there is none). */
export function slowestWakeMs(steps: BenchStep[], timeScale: number): number {
  return Math.max(0, ...steps.filter((s) => s.action === 'wake' || s.action === 'load').map((s) => stepLatency(s).busy)) / timeScale;
}
