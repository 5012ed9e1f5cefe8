// What the fakes themselves take for each step, from the figures of the profile that ran
// (demo/profile.ts or demo/h100Latency.ts: the fakes' options) divided by the time scale, plus what
// starting a fake's Node processes costs on this machine (measured by the bench before it runs): the
// part of a switch no manager can avoid. The benchmark's "engine overhead" is a switch's wall time
// minus this critical path.
//
// Critical path of one switch, for the steps the plan ran (busy and lag: real-world ms / time scale):
//   release  = max over sleeps and stops of busy(step)                 (they run in parallel)
//   freed    = max over them of busy(step) + lag(step), minus release  (only when the engine waited
//              for the GPU to show the memory freed; 0 when it skipped that wait)
//   acquire  = max over wakes, loads and starts of busy(step) + spawn(step)   (in parallel)
//   critical = release + freed + acquire
// with, per fake:
//   vLLM   sleep L1/L2: --sleep-ms-l1/-l2, lag 25 ms      wake L1: --wake-ms-l1
//          wake L2: --wake-ms-l2 + --reload-ms + --wake-ms-kv (the three-step wake)
//          start: --startup-ms
//   llama.cpp router  sleep (unload): --unload-ms, freed when it ends   load: --load-ms
//          start: --startup-ms + --load-ms (a cold router has no model loaded)
//   hook server  sleep: --unload-ms, lag 25 ms   wake: --load-ms   start: --startup-ms + --load-ms (lazy)
//   any    stop: the process exits at 0.7 × --stop-ms, the memory shows freed at --stop-ms
//   vLLM with a readiness request: its wake or start also waits for the first request, which pays
//          --first-request-ms (the warm-up), else --infer-ms
// spawn (this machine's ms, not scaled): a start spawns the fake (vLLM: and its EngineCore child);
// a llama.cpp load spawns the model's child. Real servers have that cost inside their figures; the
// fakes' Node processes add it on top.
import type { SleepDepth } from '../../src/engine/driverPort';
import type { FakeKind, ProfileService } from '../../demo/profile';

export type BenchAction = 'sleep' | 'stop' | 'wake' | 'load' | 'start';

export interface BenchStep {
  service: string;
  action: BenchAction;
  depth?: SleepDepth;
}

/** The profile that ran, its time scale, and what the fakes' processes take to start on this machine. */
export interface LatencyModel {
  services: ProfileService[];
  timeScale: number;
  /** Real ms from spawning a fake (startup-ms 0) until it listens, per kind; vLLM's includes its EngineCore child. */
  spawnMs: Partial<Record<FakeKind, number>>;
  /** Real ms to spawn a holder child (a llama.cpp model's process). */
  holderMs: number;
  /** Services with a readiness request configured: their acquisitions wait for a first request. */
  readiness: Set<string>;
}

/** Defaults of the fakes' options (test/fakes/*.ts) for those the profile does not set. */
const FAKE_DEFAULTS: Record<FakeKind, Record<string, number>> = {
  vllm: { 'startup-ms': 60000, 'stop-ms': 1000, 'sleep-ms-l1': 500, 'sleep-ms-l2': 100, 'wake-ms-l1': 500, 'wake-ms-l2': 300, 'wake-ms-kv': 50, 'reload-ms': 1500, 'infer-ms': 50, 'first-request-ms': 0 },
  llamaRouter: { 'startup-ms': 100, 'stop-ms': 1400, 'load-ms': 17000, 'unload-ms': 200 },
  hookServer: { 'startup-ms': 18000, 'stop-ms': 1000, 'load-ms': 2000, 'unload-ms': 200 },
  plainServer: { 'startup-ms': 0, 'stop-ms': 1000 },
};
/** The fakes' release lag after a sleep that keeps the process (test/fakes/lib/common.ts). */
const LIVE_RELEASE_LAG_MS = 25;

function serviceOf(model: LatencyModel, service: string): ProfileService {
  const s = model.services.find((p) => p.name === service);
  if (!s) throw new Error(`${service} is not in the profile`);
  return s;
}

/** A fake option of a service in the profile that ran (the fake's default where the profile sets none). */
export function option(model: LatencyModel, name: string, service: string): number {
  const s = serviceOf(model, service);
  const i = s.args.lastIndexOf(`--${name}`);
  const v = i >= 0 ? Number(s.args[i + 1]) : FAKE_DEFAULTS[s.fake][name];
  if (v === undefined || !Number.isFinite(v)) throw new Error(`no figure for --${name} of ${service}`);
  return v;
}

/** Real-world ms a step keeps its caller waiting (`busy`) and until the GPU shows its memory freed after that (`lag`). */
export function stepLatency(model: LatencyModel, step: BenchStep): { busy: number; lag: number } {
  const o = (name: string): number => option(model, name, step.service);
  const fake = serviceOf(model, step.service).fake;
  const { busy, lag } = fakeLatency(o, fake, step);
  // The readiness request behind a vLLM's wake or start pays the first request's warm-up.
  const warm = step.action !== 'sleep' && step.action !== 'stop' && fake === 'vllm' && model.readiness.has(step.service) ? Math.max(o('first-request-ms'), o('infer-ms')) : 0;
  return { busy: busy + warm, lag };
}

/** Real ms the fakes' processes take to start for a step (not time-scaled: the machine's, not the profile's). */
function spawnLatency(model: LatencyModel, step: BenchStep): number {
  const fake = serviceOf(model, step.service).fake;
  const spawn = model.spawnMs[fake] ?? 0;
  if (step.action === 'start') return spawn + (fake === 'llamaRouter' ? model.holderMs : 0);
  if ((step.action === 'wake' || step.action === 'load') && fake === 'llamaRouter') return model.holderMs;
  return 0;
}

function fakeLatency(o: (name: string) => number, fake: FakeKind, step: BenchStep): { busy: number; lag: number } {
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

/** The part of the critical path spent waiting for the GPU to show the released memory freed, in ms. */
export function freedWaitMs(model: LatencyModel, steps: BenchStep[], waitedForFreed: boolean): number {
  if (!waitedForFreed) return 0;
  const release = steps.filter(isRelease).map((s) => stepLatency(model, s));
  return (Math.max(0, ...release.map((l) => l.busy + l.lag)) - Math.max(0, ...release.map((l) => l.busy))) / model.timeScale;
}

/** The critical path of a parallel switch (the formula above), in ms. */
export function criticalPathMs(model: LatencyModel, steps: BenchStep[], waitedForFreed: boolean): number {
  const release = steps.filter(isRelease).map((s) => stepLatency(model, s));
  const acquiring = steps.filter((s) => !isRelease(s));
  const releaseMs = Math.max(0, ...release.map((l) => l.busy));
  const acquireMs = Math.max(0, ...acquiring.map((s) => stepLatency(model, s).busy / model.timeScale + spawnLatency(model, s)));
  return releaseMs / model.timeScale + freedWaitMs(model, steps, waitedForFreed) + acquireMs;
}

/** The slowest wake or load among `steps`, ms (0 when there is none), with the process a llama.cpp load spawns. */
export function slowestWakeMs(model: LatencyModel, steps: BenchStep[]): number {
  return Math.max(0, ...steps.filter((s) => s.action === 'wake' || s.action === 'load').map((s) => stepLatency(model, s).busy / model.timeScale + spawnLatency(model, s)));
}
