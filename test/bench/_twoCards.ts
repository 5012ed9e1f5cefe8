// The bench's two-card section (issue 17): the demo's lap on two 24 GB cards (demo/profile.ts,
// workstationProfile('2x24'): pinned services on each card, a 34 GB vLLM spread over both), with the
// naive strategy (stop/start, once, from "everything stopped") and with gpumod (a warm-up lap first, so
// every sleeper has slept once, then RUNS laps, each transition from the one before: the median).
// Per transition: the wall times, the speed-up, and gpumod's overhead beside the fakes' critical path
// as the one-card rows compute it (measure, test/bench/_report.ts).
import { median } from '../../src/engine/history';
import { TWO_CARD_PROFILE, workstationProfile } from '../../demo/profile';
import { describeSteps, fmtS, measure, msOrDash, sOrDash, textTable, xOrDash } from './_report';
import type { LatencyModel } from './_latency';
import { instrumentGpu, SWITCHERS, type BenchMachine, type Run } from './_strategies';
import { benchWorkstation } from './_workstation';

/** The demo's lap on two cards, from blank: blank → code → large → rag → speak → large → blank. */
export const TWO_CARD_LAP: string[] = ['blank', ...workstationProfile('2x24').lap];
export const FULL_LAP = 'full lap';

export interface TwoCardRow {
  /** `from→to`, or FULL_LAP (the lap's legs summed). */
  transition: string;
  medianMs: { naive: number | undefined; gpumod: number | undefined };
  runsMs: { naive: number[]; gpumod: number[] };
  speedup: number | undefined;
  /** gpumod: wall minus the fakes' critical path, median over runs (the full lap: summed over its legs). */
  overheadMs: number | undefined;
  /** gpumod: the part of the overhead inside nvidia-smi, median over runs. */
  gpuOverheadMs: number | undefined;
  criticalMs: number | undefined;
  /** Median 1-minute load average as gpumod's switches returned. */
  load: number | undefined;
  /** What gpumod's first measured run did, and naive's. */
  what: string;
  naiveWhat: string;
}

export interface TwoCardFigures {
  cards: '2x24';
  timeScale: number;
  lap: string[];
  runs: number;
  naiveRuns: number;
  rows: TwoCardRow[];
}

const medianOr = (xs: number[]): number | undefined => (xs.length ? median(xs) : undefined);

/**
 * The rows from the laps' runs: `naive[i]` and `gpumod[i]` are lap i's switches, one per leg of `lap`
 * (a lap cut short contributes its legs, not a full lap).
 */
export function twoCardRows(model: LatencyModel, lap: string[], naive: Run[][], gpumod: Run[][]): TwoCardRow[] {
  const legs = lap.slice(0, -1).map((from, i) => `${from}→${lap[i + 1]}`);
  const row = (transition: string, n: Run[], g: Run[], gLegs: Run[][]): TwoCardRow => {
    const measured = gLegs.map((ls) => ls.map((l) => measure(model, l)).reduce((t, m) => ({ critical: t.critical + m.critical, gpu: t.gpu + m.gpu }), { critical: 0, gpu: 0 }));
    const medianMs = { naive: medianOr(n.map((r) => r.wallMs)), gpumod: medianOr(g.map((r) => r.wallMs)) };
    return {
      transition,
      medianMs,
      runsMs: { naive: n.map((r) => r.wallMs), gpumod: g.map((r) => r.wallMs) },
      speedup: medianMs.naive !== undefined && medianMs.gpumod ? medianMs.naive / medianMs.gpumod : undefined,
      overheadMs: medianOr(g.map((r, i) => r.wallMs - measured[i].critical)),
      gpuOverheadMs: medianOr(measured.map((m) => m.gpu)),
      criticalMs: medianOr(measured.map((m) => m.critical)),
      load: medianOr(g.map((r) => r.load)),
      what: g.length ? (transition === FULL_LAP ? `${g[0].steps.length} steps` : describeSteps(g[0].steps)) : '',
      naiveWhat: n.length ? (transition === FULL_LAP ? `${n[0].steps.length} steps` : describeSteps(n[0].steps)) : '',
    };
  };
  const rows = legs.map((leg, i) => {
    const g = gpumod.flatMap((l) => l[i] ?? []);
    return row(leg, naive.flatMap((l) => l[i] ?? []), g, g.map((r) => [r]));
  });
  const whole = (laps: Run[][]): Run[][] => laps.filter((l) => l.length === legs.length);
  const sum = (l: Run[]): Run => ({ ...l[l.length - 1], from: lap[0], to: lap[lap.length - 1], wallMs: l.reduce((t, r) => t + r.wallMs, 0), steps: l.flatMap((r) => r.steps) });
  rows.push(row(FULL_LAP, whole(naive).map(sum), whole(gpumod).map(sum), whole(gpumod)));
  return rows;
}

/** The section as the printed report shows it. */
export function twoCardText(f: TwoCardFigures): string {
  const head = ['transition', 'naive s', 'gpumod s', 'speed-up', 'overhead ms', 'nvidia-smi ms', 'load', 'gpumod did'];
  const cells = f.rows.map((r) => [
    r.transition,
    sOrDash(r.medianMs.naive),
    sOrDash(r.medianMs.gpumod),
    xOrDash(r.speedup),
    msOrDash(r.overheadMs),
    msOrDash(r.gpuOverheadMs),
    r.load === undefined ? '-' : r.load.toFixed(1),
    r.what,
  ]);
  return [
    `two cards (2 × 24 GB, profile 2x24 at time scale ${f.timeScale}; lap ${f.lap.join(' → ')}; naive: ${f.naiveRuns === 1 ? '1 run' : `median of ${f.naiveRuns} runs`}; ` +
      `gpumod: median of ${f.runs} laps after a warm-up lap):`,
    textTable(head, cells, (i) => i >= 1 && i <= 6),
  ].join('\n');
}

export interface TwoCardOptions {
  sandbox: string;
  portBase: number;
  /** The fakes' latencies (services: TWO_CARD_PROFILE) and what their processes take to start here. */
  model: LatencyModel;
  runs: number;
  naiveRuns: number;
  signal: AbortSignal;
  progress: (text: string) => void;
  /** Extra gpumod.yaml keys per service (a readiness request). */
  extraConfig?: Record<string, Record<string, unknown>>;
}

/** Waits (up to 30 s) until no process holds memory on any card, and says how long that took. */
async function cardsEmpty(m: BenchMachine, progress: (text: string) => void): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const snap = await m.ports.gpu.snapshot({ signal: m.signal });
    const held = snap.available ? snap.gpus.filter((g) => g.processes.length > 0 || (g.usedMb ?? 0) > 0) : [];
    if (held.length === 0) break;
    if (performance.now() - t0 > 30000) throw new Error(`after naive's lap the cards still hold memory: ${held.map((g) => `GPU ${g.index} ${g.usedMb} MB`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  progress(`cards empty ${fmtS(performance.now() - t0)} s after naive's lap`);
}

/** Brings the two-card workstation up in the bench's sandbox, runs the laps, and takes it down. */
export async function twoCardBench(o: TwoCardOptions): Promise<TwoCardFigures> {
  const { ws, config, mc } = await benchWorkstation(o.sandbox, 'bench-2x24', {
    timeScale: o.model.timeScale,
    card: '2x24',
    portBase: o.portBase,
    unitPrefix: 'bench2x24-',
    profile: TWO_CARD_PROFILE,
    extraConfig: o.extraConfig,
  });
  const spans: Array<[number, number]> = [];
  const m: BenchMachine = { config, ports: { ...mc.ports, gpu: instrumentGpu(mc.ports.gpu, spans) }, signal: o.signal, gpuSpans: spans };
  const lapOf = async (s: 'naive' | 'gpumod', label: string): Promise<Run[]> => {
    const runs: Run[] = [];
    for (let i = 0; i + 1 < TWO_CARD_LAP.length; i++) {
      const [from, to] = [TWO_CARD_LAP[i], TWO_CARD_LAP[i + 1]];
      if (o.signal.aborted) throw new Error('interrupted');
      // A signal per switch: the engine adds an abort listener to the signal of each switch it runs.
      const one = new AbortController();
      const onStop = (): void => one.abort();
      o.signal.addEventListener('abort', onStop, { once: true });
      try {
        const r = await SWITCHERS[s]({ ...m, signal: one.signal }, from, to);
        o.progress(`${s.padEnd(10)} ${from}→${to}${label}: ${fmtS(r.wallMs)} s`);
        runs.push(r);
      } finally {
        o.signal.removeEventListener('abort', onStop);
      }
    }
    return runs;
  };
  try {
    const naive: Run[][] = [];
    // Naive from "everything stopped", its own blank: it leaves nothing asleep, so each lap is the same.
    for (let i = 0; i < o.naiveRuns; i++) naive.push(await lapOf('naive', ''));
    // Naive's last stop returns before the spread model's workers have let go of their cards: gpumod
    // would count that memory as another program's (no unit owns it any longer) and refuse code.
    if (o.naiveRuns > 0) await cardsEmpty(m, o.progress);
    // A warm-up lap, so that every service that can sleep has slept once; each lap ends in blank.
    await lapOf('gpumod', ' (warm-up)');
    const gpumod: Run[][] = [];
    for (let i = 0; i < o.runs; i++) gpumod.push(await lapOf('gpumod', ''));
    return { cards: '2x24', timeScale: o.model.timeScale, lap: TWO_CARD_LAP, runs: o.runs, naiveRuns: o.naiveRuns, rows: twoCardRows(o.model, TWO_CARD_LAP, naive, gpumod) };
  } finally {
    await mc.close();
    await ws.teardown();
  }
}
