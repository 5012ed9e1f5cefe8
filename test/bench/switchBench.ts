// `npm run bench`: mode switches on the profile workstation (docs/WORKSTATION.md) with three
// strategies (test/bench/_strategies.ts), on a 32 GB and a 24 GB card, at time scale 10 (a 60 s vLLM
// cold start takes 6 s). Runs outside mocha: it starts its own systemd user manager
// (scripts/userManager.sh) and stops it at the end, on errors and on Ctrl-C.
//
// Steady states: every strategy starts each transition from the state its own previous switches left.
//   naive       runs the cycle blank → code → rag → speak → blank from "everything stopped"; its legs are
//               its transitions. Naive leaves exactly the target's services running, whatever the path,
//               so its code → rag leg is also its code → rag after rag → code.
//   sequential, gpumod   after a warm-up that visits every mode (so every sleeper has slept once):
//               - code → rag with code entered from rag (rag → code → rag): the profile's code state, in
//                 which vllm-embedding still runs beside code where the card has room;
//               - the cycle's legs, each from the leg before (code there is entered from blank, which
//                 stops what cannot sleep, so code → rag also cold-starts vllm-embedding);
//               - code → code.
//   gpumod and sequential run the same plan, so they leave the same states and are interleaved.
// Scheduling: the two cards (separate fake GPUs and units in one manager) run at the same time, to
// keep the benchmark near 6 minutes, except for the sub-second switches (code → rag from rag, code →
// code), which run one card at a time: on two CPUs the other card's activity would be most of what
// they measure. The cycles run at once: their legs are seconds of cold starts.
// Options: --runs N (3), --naive-runs N (1), --cards 32,24, --serial (one card after the other).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { bringUp, REPO } from '../../demo/workstation';
import { loadConfig, formatProblems } from '../../src/config/load';
import { median } from '../../src/engine/history';
import { createMachine } from '../../src/machine';
import { silentLogger } from '../../src/system/logger';
import { sandboxVars, startSandbox, stopSandbox, stopSandboxSync } from '../integration/support/sandbox';
import { criticalPathMs, slowestWakeMs, type BenchStep } from './_latency';
import { instrumentGpu, SWITCHERS, type BenchMachine, type Run, type Strategy } from './_strategies';

const TIME_SCALE = 10;
const CYCLE = ['blank', 'code', 'rag', 'speak', 'blank'];
/** Rows of the table, in order. */
const ROWS = ['code→rag', 'code→rag (from blank)', 'rag→speak', 'speak→blank', 'blank→code', 'code→code', 'full cycle'] as const;
type Row = (typeof ROWS)[number];
/** gpumod counts as "not slower" than sequential within this noise: both run identical steps where nothing is parallel. */
const NOISE_MS = 30;
const NOISE_FRACTION = 0.03;

type Card = '32' | '24';
type Results = Record<Row, Record<Strategy, Run[]>>;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const RUNS = Number(arg('runs') ?? 3);
const NAIVE_RUNS = Number(arg('naive-runs') ?? 1);
const CARDS = (arg('cards') ?? '32,24').split(',') as Card[];
const SERIAL = process.argv.includes('--serial');

function emptyResults(): Results {
  return Object.fromEntries(ROWS.map((r) => [r, { naive: [], sequential: [], gpumod: [] }])) as unknown as Results;
}

function progress(card: Card, text: string): void {
  process.stderr.write(`[${card} GB] ${text}\n`);
}

const fmtS = (ms: number): string => (ms / 1000).toFixed(ms < 10000 ? 2 : 1);

/** How the cards' runs line up: all at the barriers, one at a time inside `exclusive`. */
interface Sync {
  barrier(): Promise<void>;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** A card failed: nobody waits for it any longer. */
  fail(e: unknown): void;
}

function createSync(parties: number): Sync {
  let waiting: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  let failed: unknown;
  let queue: Promise<unknown> = Promise.resolve();
  return {
    barrier(): Promise<void> {
      if (failed !== undefined) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        if (waiting.length < parties) return;
        const all = waiting;
        waiting = [];
        for (const w of all) w.resolve();
      });
    },
    exclusive<T>(fn: () => Promise<T>): Promise<T> {
      const run = queue.then(fn);
      queue = run.catch(() => undefined);
      return run;
    },
    fail(e: unknown): void {
      failed = e ?? new Error('a card failed');
      for (const w of waiting.splice(0)) w.reject(failed);
    },
  };
}

async function benchCard(card: Card, sandbox: string, portBase: number, signal: AbortSignal, sync: Sync): Promise<Results> {
  const env = sandboxVars(sandbox);
  const ws = await bringUp({
    dir: join(sandbox, `bench-${card}`),
    managerEnv: env,
    unitDir: join(env.XDG_CONFIG_HOME, 'systemd/user'),
    timeScale: TIME_SCALE,
    card,
    portBase,
    unitPrefix: `bench${card}-`,
    log: silentLogger,
  });
  const loaded = await loadConfig(ws.configPath);
  if (!loaded.ok) {
    await ws.teardown();
    throw new Error(formatProblems(loaded.problems));
  }
  const config = loaded.config;
  const mc = createMachine(config, silentLogger, { ...process.env, ...ws.env });
  const spans: Array<[number, number]> = [];
  const m: BenchMachine = { config, ports: { ...mc.ports, gpu: instrumentGpu(mc.ports.gpu, spans) }, signal, gpuSpans: spans };
  const results = emptyResults();
  const sw = async (s: Strategy, from: string, to: string, row?: Row): Promise<Run> => {
    if (signal.aborted) throw new Error('interrupted');
    // A signal per switch: the engine adds an abort listener to the signal of each switch it runs.
    const one = new AbortController();
    const onStop = (): void => one.abort();
    signal.addEventListener('abort', onStop, { once: true });
    try {
      const r = await SWITCHERS[s]({ ...m, signal: one.signal }, from, to);
      if (row) results[row][s].push(r);
      progress(card, `${s.padEnd(10)} ${from}→${to}${row ? '' : ' (prepares)'}: ${fmtS(r.wallMs)} s`);
      return r;
    } finally {
      signal.removeEventListener('abort', onStop);
    }
  };
  const cycle = async (s: Strategy): Promise<void> => {
    const legs: Run[] = [];
    for (let i = 0; i + 1 < CYCLE.length; i++) {
      const [from, to] = [CYCLE[i], CYCLE[i + 1]];
      const row: Row = from === 'code' && to === 'rag' ? 'code→rag (from blank)' : (`${from}→${to}` as Row);
      legs.push(await sw(s, from, to, row));
      if (to === 'code' && s === 'naive') await sw(s, 'code', 'code', 'code→code');
    }
    results['full cycle'][s].push({
      strategy: s,
      from: 'blank',
      to: 'blank',
      wallMs: legs.reduce((t, l) => t + l.wallMs, 0),
      steps: legs.flatMap((l) => l.steps),
      waitedForFreed: false,
      gpuQueryMs: legs.reduce((t, l) => t + l.gpuQueryMs, 0),
      notes: [],
    });
  };
  try {
    // Phase 1, both cards at once (cold starts dominate; noise does not matter): naive from
    // "everything stopped", which is its own blank.
    for (let i = 0; i < NAIVE_RUNS; i++) await cycle('naive');
    results['code→rag'].naive.push(...results['code→rag (from blank)'].naive);
    await sync.barrier();
    // Phase 2, at once: a warm-up through every mode, so that every service that can sleep has slept.
    for (const [from, to] of [['blank', 'code'], ['code', 'rag'], ['rag', 'speak']]) await sw('gpumod', from, to);
    await sync.barrier();
    // Phase 3, one card at a time: the switches that take well under a second, where the other
    // card's activity on these two CPUs would be most of what is measured.
    await sync.exclusive(async () => {
      if (card === '32') {
        // code entered from rag keeps vllm-embedding running beside it (30.1 GB on this card).
        await sw('gpumod', 'speak', 'rag');
        for (let i = 0; i < RUNS; i++) {
          for (const s of ['gpumod', 'sequential'] as const) {
            await sw(s, 'rag', 'code');
            // A no-op costs one observation: gpumod and sequential alternate, so that noise cancels.
            if (s === 'gpumod') for (const x of ['gpumod', 'sequential', 'gpumod', 'sequential'] as const) await sw(x, 'code', 'code', 'code→code');
            await sw(s, 'code', 'rag', 'code→rag');
          }
        }
      } else {
        await sw('gpumod', 'speak', 'blank');
        await sw('gpumod', 'blank', 'code');
        for (let i = 0; i < 2 * RUNS; i++) for (const x of ['gpumod', 'sequential'] as const) await sw(x, 'code', 'code', 'code→code');
        // On 24 GB nothing that cannot sleep fits beside code, and the residues kept are chosen the
        // same way from either side: code is the same state entered from rag or from blank.
        for (const s of ['naive', 'sequential', 'gpumod'] as const) results['code→rag'][s] = results['code→rag (from blank)'][s];
      }
    });
    await sync.barrier();
    // Phase 4, at once: the cycles, from blank.
    if (card === '32') {
      await sw('gpumod', 'rag', 'speak');
      await sw('gpumod', 'speak', 'blank');
    } else {
      await sw('gpumod', 'code', 'blank');
    }
    for (let i = 0; i < RUNS; i++) for (const s of ['gpumod', 'sequential'] as const) await cycle(s);
    return results;
  } catch (e) {
    sync.fail(e);
    throw e;
  } finally {
    await mc.close();
    await ws.teardown();
  }
}

// ---- report ----

interface RowReport {
  card: Card;
  row: Row;
  medianMs: Record<Strategy, number | undefined>;
  runsMs: Record<Strategy, number[]>;
  speedup: number | undefined;
  /** gpumod: wall minus the fakes' critical path, median over runs (a cycle: summed over its legs). */
  overheadMs: number | undefined;
  criticalMs: number | undefined;
  gpuQueryMs: number | undefined;
  what: string;
  naiveWhat: string;
  notes: string[];
  allAsleep: boolean;
  slowestWakeMs: number;
  /** gpumod, every run: the services it cold-started, and those of them no plan note explains. */
  coldStarts: number;
  unexplained: string[];
}

function describeSteps(steps: BenchStep[]): string {
  const by = new Map<string, string[]>();
  for (const s of steps) by.set(s.action, [...(by.get(s.action) ?? []), s.service + (s.depth && s.action === 'sleep' ? `(${s.depth})` : '')]);
  const verbs: Record<string, string> = { sleep: 'slept', wake: 'woke', load: 'loaded', start: 'started', stop: 'stopped' };
  return [...by].map(([a, names]) => `${verbs[a]} ${names.join(' ')}`).join('; ') || 'nothing';
}

function overheadOf(r: Run, row: Row, legs: Run[]): { overhead: number; critical: number } {
  if (row === 'full cycle') {
    const critical = legs.reduce((t, l) => t + criticalPathMs(l.steps, TIME_SCALE, l.waitedForFreed), 0);
    return { overhead: r.wallMs - critical, critical };
  }
  const critical = criticalPathMs(r.steps, TIME_SCALE, r.waitedForFreed);
  return { overhead: r.wallMs - critical, critical };
}

function report(card: Card, results: Results): RowReport[] {
  const out: RowReport[] = [];
  const legRows: Row[] = ['blank→code', 'code→rag (from blank)', 'rag→speak', 'speak→blank'];
  for (const row of ROWS) {
    const runs = results[row];
    const med = (s: Strategy): number | undefined => (runs[s].length ? median(runs[s].map((r) => r.wallMs)) : undefined);
    const g = runs.gpumod;
    const over = g.map((r, i) => overheadOf(r, row, legRows.map((lr) => results[lr].gpumod[i])));
    const acquire = g.flatMap((r) => r.steps.filter((s) => s.action !== 'sleep' && s.action !== 'stop'));
    const medianMs = { naive: med('naive'), sequential: med('sequential'), gpumod: med('gpumod') };
    const started = row === 'full cycle' ? [] : g.flatMap((r) => r.steps.filter((s) => s.action === 'start').map((s) => ({ name: s.service, notes: r.notes })));
    out.push({
      card,
      row,
      medianMs,
      runsMs: { naive: runs.naive.map((r) => r.wallMs), sequential: runs.sequential.map((r) => r.wallMs), gpumod: g.map((r) => r.wallMs) },
      speedup: medianMs.naive !== undefined && medianMs.gpumod ? medianMs.naive / medianMs.gpumod : undefined,
      overheadMs: over.length ? median(over.map((o) => o.overhead)) : undefined,
      criticalMs: over.length ? median(over.map((o) => o.critical)) : undefined,
      gpuQueryMs: g.length ? median(g.map((r) => r.gpuQueryMs)) : undefined,
      what: g.length ? (row === 'full cycle' ? `${g[0].steps.length} steps` : describeSteps(g[0].steps)) : '',
      naiveWhat: runs.naive.length ? (row === 'full cycle' ? `${runs.naive[0].steps.length} steps` : describeSteps(runs.naive[0].steps)) : '',
      notes: g[0]?.notes ?? [],
      allAsleep: row !== 'full cycle' && acquire.length > 0 && acquire.every((s) => s.action === 'wake' || s.action === 'load'),
      slowestWakeMs: g.length ? slowestWakeMs(g[0].steps, TIME_SCALE) : 0,
      coldStarts: started.length,
      unexplained: [...new Set(started.filter((x) => !x.notes.some((n) => n.startsWith(`${x.name} `) && n.includes('cold-start'))).map((x) => x.name))],
    });
  }
  return out;
}

function table(rows: RowReport[]): string {
  const head = ['card', 'transition', 'naive s', 'sequential s', 'gpumod s', 'speed-up', 'overhead ms', 'nvidia-smi ms', 'gpumod did'];
  const cells = rows.map((r) => [
    `${r.card} GB`,
    r.row,
    r.medianMs.naive === undefined ? '-' : fmtS(r.medianMs.naive),
    r.medianMs.sequential === undefined ? '-' : fmtS(r.medianMs.sequential),
    r.medianMs.gpumod === undefined ? '-' : fmtS(r.medianMs.gpumod),
    r.speedup === undefined ? '-' : `${r.speedup.toFixed(r.speedup < 10 ? 1 : 0)}x`,
    r.overheadMs === undefined ? '-' : String(Math.round(r.overheadMs)),
    r.gpuQueryMs === undefined ? '-' : String(Math.round(r.gpuQueryMs)),
    r.what,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((x, i) => (i >= 2 && i <= 7 ? x.padStart(width[i]) : x.padEnd(width[i]))).join('  ').trimEnd();
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

interface Goal {
  name: string;
  pass: boolean;
  detail: string;
}

function goals(rows: RowReport[]): Goal[] {
  const out: Goal[] = [];
  const c2r = rows.find((r) => r.card === '32' && r.row === 'code→rag');
  if (c2r) {
    out.push({
      name: '32 GB code→rag at least 20x faster than naive',
      pass: (c2r.speedup ?? 0) >= 20,
      detail: `${c2r.speedup?.toFixed(1)}x (naive ${fmtS(c2r.medianMs.naive ?? 0)} s, gpumod ${fmtS(c2r.medianMs.gpumod ?? 0)} s)`,
    });
  }
  const slower = rows.filter((r) => r.medianMs.gpumod !== undefined && r.medianMs.sequential !== undefined && r.medianMs.gpumod > r.medianMs.sequential * (1 + NOISE_FRACTION) + NOISE_MS);
  const closest = [...rows]
    .filter((r) => r.medianMs.gpumod !== undefined && r.medianMs.sequential !== undefined)
    .sort((a, b) => (b.medianMs.gpumod ?? 0) - (b.medianMs.sequential ?? 0) - ((a.medianMs.gpumod ?? 0) - (a.medianMs.sequential ?? 0)))[0];
  out.push({
    name: `gpumod never slower than sequential (both cards, every transition; noise allowance ${NOISE_MS} ms + ${NOISE_FRACTION * 100}%)`,
    pass: slower.length === 0,
    detail: slower.length
      ? slower.map((r) => `${r.card} GB ${r.row}: ${Math.round(r.medianMs.gpumod ?? 0)} vs ${Math.round(r.medianMs.sequential ?? 0)} ms`).join('; ')
      : closest
        ? `closest: ${closest.card} GB ${closest.row}, gpumod ${Math.round(closest.medianMs.gpumod ?? 0)} ms vs sequential ${Math.round(closest.medianMs.sequential ?? 0)} ms`
        : '',
  });
  const perSwitch = rows.filter((r) => r.row !== 'full cycle' && r.overheadMs !== undefined);
  if (perSwitch.length) {
    const range = (xs: number[]): string => `${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))} ms`;
    const worst = [...perSwitch].sort((a, b) => (b.overheadMs ?? 0) - (a.overheadMs ?? 0))[0];
    out.push({
      name: 'engine overhead under 50 ms per switch',
      pass: (worst.overheadMs ?? 0) < 50,
      detail:
        `median per transition ${range(perSwitch.map((r) => r.overheadMs ?? 0))} (worst ${worst.card} GB ${worst.row}); ` +
        `inside nvidia-smi (the fake is a node process, ~0.1 s a query here, 28 ms on real hardware) ${range(perSwitch.map((r) => r.gpuQueryMs ?? 0))}; ` +
        `the rest ${range(perSwitch.map((r) => (r.overheadMs ?? 0) - (r.gpuQueryMs ?? 0)))}`,
    });
  }
  const asleep = rows.filter((r) => r.allAsleep && r.medianMs.gpumod !== undefined);
  out.push({
    name: 'a switch whose incoming services are all asleep costs at most the slowest wake + 50 ms',
    pass: asleep.length > 0 && asleep.every((r) => (r.medianMs.gpumod ?? 0) <= r.slowestWakeMs + 50),
    detail: asleep.length
      ? asleep
          .map((r) => `${r.card} GB ${r.row}: ${Math.round(r.medianMs.gpumod ?? 0)} ms (${Math.round(r.gpuQueryMs ?? 0)} ms of it in nvidia-smi) vs ${Math.round(r.slowestWakeMs)} + 50 ms`)
          .join('; ')
      : 'no such transition was measured',
  });
  // On 24 GB the code→rag row shares its runs with the cycle leg: counted once.
  const cold24 = rows.filter((r) => r.card === '24' && r.row !== 'code→rag');
  const unexplained = cold24.flatMap((r) => r.unexplained.map((n) => `${r.row}: ${n}`));
  const coldStarts = cold24.reduce((t, r) => t + r.coldStarts, 0);
  if (CARDS.includes('24')) {
    out.push({
      name: "24 GB: the plan's notes name the unavoidable cold starts",
      pass: coldStarts > 0 && unexplained.length === 0,
      detail: unexplained.length ? `not explained: ${unexplained.join(', ')}` : `${coldStarts} cold starts over all runs, each named in its plan's notes`,
    });
  }
  return out;
}

// ---- main ----

async function main(): Promise<void> {
  const t0 = Date.now();
  const loadBefore = loadavg()[0];
  const stop = new AbortController();
  const sandbox = await startSandbox();
  let stopped = false;
  // Ctrl-C or a kill: stopping the manager stops every unit and kills what is left in its cgroups.
  const hardStop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      stopSandboxSync(sandbox);
      rmSync(sandbox, { recursive: true, force: true });
    } catch (e) {
      process.stderr.write(`bench: stopping the sandbox in ${sandbox} failed: ${String(e)}\n`);
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping the sandbox\n`);
      stop.abort();
      hardStop();
      process.exit(130);
    });
  }
  process.on('exit', hardStop);

  let all: RowReport[];
  try {
    const run = (card: Card, i: number, sync: Sync): Promise<RowReport[]> =>
      benchCard(card, sandbox, 18800 + 20 * i, stop.signal, sync).then((r) => report(card, r));
    if (SERIAL) {
      all = [];
      for (const [i, c] of CARDS.entries()) all.push(...(await run(c, i, createSync(1))));
    } else {
      const sync = createSync(CARDS.length);
      const settled = await Promise.allSettled(CARDS.map((c, i) => run(c, i, sync)));
      const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed) throw failed.reason;
      all = settled.flatMap((x) => (x.status === 'fulfilled' ? x.value : []));
    }
  } finally {
    if (!stopped) {
      stopped = true;
      await stopSandbox(sandbox);
    }
  }

  const wallS = Math.round((Date.now() - t0) / 1000);
  const g = goals(all);
  const lines = [
    `gpumod switch benchmark: profile workstation, time scale ${TIME_SCALE} (a 60 s cold start takes 6 s), ` +
      `median of ${RUNS} runs for sequential and gpumod, ${NAIVE_RUNS} run${NAIVE_RUNS === 1 ? '' : 's'} for naive${NAIVE_RUNS === 1 ? ' (to keep the benchmark near 6 minutes)' : ''}; ` +
      `${SERIAL ? 'cards one after the other' : 'cards at the same time on separate fake GPUs, except the sub-second switches (one card at a time)'}; ${wallS} s in all; ` +
      `load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after, on ${cpus().length} CPUs.`,
    '',
    table(all),
    '',
    'code→rag: code entered from rag (vllm-embedding still running where the card has room); naive: its cycle leg (naive leaves the same state on any path).',
    'code→rag (from blank): the cycle leg; blank stops what cannot sleep, so vllm-embedding cold-starts.',
    '24 GB code→rag: the same runs as from blank: nothing that cannot sleep fits beside code on that card, so code is the same state either way.',
    'overhead ms = gpumod wall time - critical path of the fakes (test/bench/_latency.ts); nvidia-smi ms = time inside GPU queries, part of the overhead.',
    '',
    ...g.map((x) => `${x.pass ? 'PASS' : 'FAIL'}  ${x.name}: ${x.detail}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const dir = join(REPO, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'bench.json'),
    JSON.stringify({ timeScale: TIME_SCALE, runs: RUNS, naiveRuns: NAIVE_RUNS, serial: SERIAL, wallSeconds: wallS, loadAverage: { before: loadBefore, after: loadavg()[0] }, rows: all, goals: g }, null, 2) + '\n',
  );
  process.stdout.write(`results: ${join(dir, 'bench.json')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
