// `npm run bench`: mode switches on the profile workstation (docs/WORKSTATION.md) with three
// strategies (test/bench/_strategies.ts), on a 32 GB and a 24 GB card. The fakes' latencies come from
// a profile: `workstation` (demo/profile.ts, the default, at time scale 10: a 60 s vLLM cold start
// takes 6 s) or `h100` (demo/h100Latency.ts, measured on an H100, at time scale 1). Runs outside mocha:
// it starts its own systemd user manager (scripts/userManager.sh) and stops it at the end, on errors
// and on Ctrl-C.
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
// After each measured switch every incoming service is sent its first request (test/bench/_firstToken.ts):
// the time to first token.
// Scheduling: the two cards (separate fake GPUs and units in one manager) run at the same time, to
// keep the benchmark near 6 minutes, except for the sub-second switches (code → rag from rag, code →
// code), which run one card at a time: on two CPUs the other card's activity would be most of what
// they measure. The cycles run at once: their legs are seconds of cold starts.
// Then two 24 GB cards (test/bench/_twoCards.ts): the two-card demo's lap, naive against gpumod.
// Then the gateway (test/bench/_gateway.ts): its added latency, streamed throughput and time to first token.
// Options: --profile workstation|h100, --time-scale N (the profile's), --runs N (3), --naive-runs N (1),
// --cards 32,24, --serial (one card after the other), --readiness (each vLLM service configured with
// its first request as readiness request: gpumod warms it up inside the switch), --no-package (skip
// `npm run package`), --no-gateway, --gateway-only, --no-two-cards, --two-cards-only.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { H100_PROFILE, H100_TIME_SCALE } from '../../demo/h100Latency';
import { PROFILE, TWO_CARD_PROFILE, type ProfileService } from '../../demo/profile';
import { REPO } from '../../demo/workstation';
import { startSandbox, stopSandbox, stopSandboxSync } from '../integration/support/sandbox';
import { measurePackage, measureSpawn, type PackageSize, type SpawnFloors } from './_calibrate';
import { firstRequests } from './_firstToken';
import { goalLine, goals } from './_goals';
import type { LatencyModel } from './_latency';
import { emptyResults, firstRequestFigures, fmtS, report, table, type Card, type Results, type Row, type RowReport } from './_report';
import { benchWorkstation } from './_workstation';
import { instrumentGpu, SWITCHERS, type BenchMachine, type Run, type Strategy } from './_strategies';
import { gatewayBench, gatewayGoals, type GatewayFigures } from './_gateway';
import { twoCardBench, twoCardText, type TwoCardFigures } from './_twoCards';

const PROFILES: Record<string, { services: ProfileService[]; timeScale: number }> = {
  workstation: { services: PROFILE, timeScale: 10 },
  h100: { services: H100_PROFILE, timeScale: H100_TIME_SCALE },
};
const CYCLE = ['blank', 'code', 'rag', 'speak', 'blank'];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const PROFILE_NAME = arg('profile') ?? 'workstation';
if (!PROFILES[PROFILE_NAME]) {
  process.stderr.write(`bench: --profile must be one of ${Object.keys(PROFILES).join(', ')}\n`);
  process.exit(2);
}
const SERVICES = PROFILES[PROFILE_NAME].services;
const TIME_SCALE = Number(arg('time-scale') ?? PROFILES[PROFILE_NAME].timeScale);
const RUNS = Number(arg('runs') ?? 3);
const NAIVE_RUNS = Number(arg('naive-runs') ?? 1);
const CARDS = (arg('cards') ?? '32,24').split(',') as Card[];
const SERIAL = process.argv.includes('--serial');
const READINESS = process.argv.includes('--readiness');
const PACKAGE = !process.argv.includes('--no-package');
/** --gateway-only: only the gateway's section (no card switches); --no-gateway: without it. */
const GATEWAY_ONLY = process.argv.includes('--gateway-only');
const GATEWAY = !process.argv.includes('--no-gateway');
/** --two-cards-only: only the two-card section; --no-two-cards: without it. */
const TWO_CARDS_ONLY = process.argv.includes('--two-cards-only');
const TWO_CARDS = !process.argv.includes('--no-two-cards');
if (GATEWAY_ONLY && TWO_CARDS_ONLY) {
  process.stderr.write('bench: --gateway-only and --two-cards-only exclude each other\n');
  process.exit(2);
}
/** The card sections (the one-card profiles), skipped by either --…-only. */
const CARD_SECTIONS = !GATEWAY_ONLY && !TWO_CARDS_ONLY;
/** The two-card profile has the workstation's latencies only: the h100 profile's time scale does not apply to it. */
const TWO_CARD_TIME_SCALE = PROFILE_NAME === 'workstation' ? TIME_SCALE : PROFILES.workstation.timeScale;
/** Its own ports, after the cards' (18800 + 20 per card) and the gateway's (the next 20). */
const TWO_CARD_PORT_BASE = Math.max(18900, 18800 + 20 * (CARDS.length + 2));
/** With --readiness: the vLLM services (the ones whose first request is slow) warm up inside the switch. */
const WARMED = READINESS ? SERVICES.filter((s) => s.fake === 'vllm') : [];

function progress(card: Card | undefined, text: string): void {
  process.stderr.write(`${card ? `[${card} GB] ` : ''}${text}\n`);
}

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
  const { ws, config, mc } = await benchWorkstation(sandbox, `bench-${card}`, {
    timeScale: TIME_SCALE,
    card,
    portBase,
    unitPrefix: `bench${card}-`,
    profile: SERVICES,
    extraConfig: Object.fromEntries(WARMED.map((s) => [s.name, { readiness: s.firstRequest }])),
  });
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
      // At once: the time to first token counts from the switch's start.
      if (row) r.firstRequests = await firstRequests(SERVICES, ws.ports, r.steps, r.wallMs, r.endedAt);
      if (row) results[row][s].push(r);
      const ttft = r.firstRequests?.length ? `, first token ${fmtS(Math.max(...r.firstRequests.map((f) => f.ttftMs)))} s` : '';
      progress(card, `${s.padEnd(10)} ${from}→${to}${row ? '' : ' (prepares)'}: ${fmtS(r.wallMs)} s${ttft}`);
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
      waitFreeMs: legs.reduce((t, l) => t + l.waitFreeMs, 0),
      gpuQueryInWaitMs: legs.reduce((t, l) => t + l.gpuQueryInWaitMs, 0),
      notes: [],
      endedAt: legs[legs.length - 1].endedAt,
      load: legs[legs.length - 1].load,
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

// ---- main ----

/** The CPU's model name as /proc/cpuinfo gives it (os.cpus() can be empty in containers). */
function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

/** The gateway's figures as the report prints them. */
function gatewayText(f: GatewayFigures): string {
  const r = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
  return [
    `gateway (32 GB, ${SERVICES.find((s) => s.name === 'vllm-chat') ? 'vllm-chat' : 'chat'}, its own process in front of the fakes):`,
    `  one-token completion on the awake model: direct p50 ${r(f.direct.p50)} ms, p99 ${r(f.direct.p99)} ms; through the gateway p50 ${r(f.gateway.p50)} ms, p99 ${r(f.gateway.p99)} ms`,
    `  streamed: ${f.directTokensPerS.toFixed(0)} tokens/s direct, ${f.gatewayTokensPerS.toFixed(0)} through the gateway`,
    `  time to first token through the gateway: awake ${r(f.ttft.awake)} ms, asleep (L1) ${r(f.ttft.asleepL1)} ms, stopped ${r(f.ttft.stopped)} ms; a stop/start gateway (cold start on request) ${r(f.ttft.naiveStopStart)} ms`,
  ].join('\n');
}

/** The cards' table and the notes that explain it. */
function cardNotes(all: RowReport[], floors: SpawnFloors): string[] {
  const spawnText = Object.entries(floors.spawnMs).map(([k, v]) => `${k} ${Math.round(v ?? 0)} ms`).join(', ');
  return [
    '',
    table(all),
    '',
    'code→rag: code entered from rag (vllm-embedding still running where the card has room); naive: its cycle leg (naive leaves the same state on any path).',
    'code→rag (from blank): the cycle leg; blank stops what cannot sleep, so vllm-embedding cold-starts.',
    '24 GB code→rag: the same runs as from blank: nothing that cannot sleep fits beside code on that card, so code is the same state either way.',
    'TTFT: from the switch\'s start until the slowest incoming service answered its first request (a one-token completion, a first embedding or rerank, a transcription).',
    `overhead ms = gpumod wall time - critical path of the fakes (test/bench/_latency.ts; with their processes' start-up here: ${spawnText}, a child ${Math.round(floors.holderMs)} ms); ` +
      'nvidia-smi ms = the part of the overhead spent inside GPU queries (those made while the memory waited for was not freed yet cost nothing); load = 1-minute load average as the switches returned.',
  ];
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const loadBefore = loadavg()[0];
  // Before anything else runs: what starting the fakes' processes costs here (part of their critical path).
  const floors: SpawnFloors = await measureSpawn(SERVICES.map((s) => s.fake));
  const model: LatencyModel = { services: SERVICES, timeScale: TIME_SCALE, ...floors, readiness: new Set(WARMED.map((s) => s.name)) };
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

  let all: RowReport[] = [];
  let gateway: GatewayFigures | undefined;
  let twoCards: TwoCardFigures | undefined;
  try {
    const run = (card: Card, i: number, sync: Sync): Promise<RowReport[]> =>
      benchCard(card, sandbox, 18800 + 20 * i, stop.signal, sync).then((r) => report(model, card, r));
    if (!CARD_SECTIONS) {
      /* the gateway's or the two cards' section alone */
    } else if (SERIAL) {
      for (const [i, c] of CARDS.entries()) all.push(...(await run(c, i, createSync(1))));
    } else {
      const sync = createSync(CARDS.length);
      const settled = await Promise.allSettled(CARDS.map((c, i) => run(c, i, sync)));
      const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed) throw failed.reason;
      all = settled.flatMap((x) => (x.status === 'fulfilled' ? x.value : []));
    }
    if ((TWO_CARDS && !GATEWAY_ONLY) || TWO_CARDS_ONLY) {
      const warmed = READINESS ? TWO_CARD_PROFILE.filter((s) => s.fake === 'vllm') : [];
      twoCards = await twoCardBench({
        sandbox,
        portBase: TWO_CARD_PORT_BASE,
        model: { services: TWO_CARD_PROFILE, timeScale: TWO_CARD_TIME_SCALE, ...floors, readiness: new Set(warmed.map((s) => s.name)) },
        runs: RUNS,
        naiveRuns: NAIVE_RUNS,
        signal: stop.signal,
        progress: (t) => progress(undefined, `[2 × 24 GB] ${t}`),
        extraConfig: Object.fromEntries(warmed.map((s) => [s.name, { readiness: s.firstRequest }])),
      });
    }
    if ((GATEWAY && !TWO_CARDS_ONLY) || GATEWAY_ONLY) gateway = await gatewayBench(sandbox, 18800 + 20 * CARDS.length, SERVICES, TIME_SCALE, (t) => progress(undefined, t));
  } finally {
    if (!stopped) {
      stopped = true;
      await stopSandbox(sandbox);
    }
  }
  const loadAfter = loadavg()[0];

  let pkg: PackageSize | undefined;
  let packageError: string | undefined;
  if (PACKAGE && CARD_SECTIONS) {
    progress(undefined, 'npm run package');
    pkg = await measurePackage(REPO).catch((e: unknown) => {
      packageError = e instanceof Error ? e.message.split('\n')[0] : String(e);
      return undefined;
    });
  }

  const wallS = Math.round((Date.now() - t0) / 1000);
  const g = [...(!CARD_SECTIONS ? [] : goals({ rows: all, cards: CARDS, packageBytes: pkg?.bytes, packageError, packageSkipped: !PACKAGE })), ...(gateway ? gatewayGoals(gateway) : [])];
  const machine = { cpus: cpus().length, model: cpuModel(), memoryGb: Math.round(totalmem() / 2 ** 30), loadAverage: { before: loadBefore, after: loadAfter } };
  const lines = [
    `gpumod switch benchmark: profile ${PROFILE_NAME}, time scale ${TIME_SCALE}${READINESS ? ', vLLM services with a readiness request' : ''}, ` +
      `median of ${RUNS} runs for sequential and gpumod, ${NAIVE_RUNS} run${NAIVE_RUNS === 1 ? '' : 's'} for naive${NAIVE_RUNS === 1 ? ' (to keep the benchmark near 6 minutes)' : ''}; ` +
      `${SERIAL ? 'cards one after the other' : 'cards at the same time on separate fake GPUs, except the sub-second switches (one card at a time)'}; ${wallS} s in all; ` +
      `${machine.cpus} × ${machine.model}, load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after.`,
    ...(CARD_SECTIONS ? cardNotes(all, floors) : []),
    ...(twoCards ? ['', twoCardText(twoCards), 'two cards: each transition from the one before; overhead ms = gpumod wall time - critical path of the fakes, nvidia-smi ms = its part inside GPU queries (as for the cards); full lap: its legs summed.'] : []),
    ...(gateway ? ['', gatewayText(gateway)] : []),
    '',
    ...g.map(goalLine),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const dir = join(REPO, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const json = {
    date: new Date().toISOString(),
    profile: PROFILE_NAME,
    timeScale: TIME_SCALE,
    readiness: READINESS,
    runs: RUNS,
    naiveRuns: NAIVE_RUNS,
    cards: CARDS,
    serial: SERIAL,
    wallSeconds: wallS,
    machine,
    // Kept for readers of the earlier bench.json.
    loadAverage: machine.loadAverage,
    spawn: floors,
    package: pkg ?? { error: packageError ?? 'skipped (--no-package)' },
    rows: all,
    firstRequestMs: firstRequestFigures(all),
    gateway: gateway ?? null,
    twoCards: twoCards ?? null,
    goals: g,
  };
  writeFileSync(join(dir, 'bench.json'), JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(`results: ${join(dir, 'bench.json')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
