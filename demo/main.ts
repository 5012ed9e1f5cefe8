// `npm run demo`: gpumod's main job on any Linux machine, no GPU needed. Brings up the workstation of
// docs/WORKSTATION.md (eight fake servers as real systemd user units, a fake nvidia-smi),
// switches blank → code → rag → speak → code → blank with gpumod, then the same with plain
// stop/start, prints both side by side, and removes everything it started (also on Ctrl-C).
// `--vscode` serves the real VS Code with the extension on that workstation instead; `--gpus 2x24`
// brings up the two-card workstation (demo/profile.ts TWO_CARD_PROFILE) and its own route.
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProblems, loadConfig } from '../src/config/load';
import type { Config } from '../src/config/types';
import { describePlan } from '../src/engine/planText';
import type { StepEvent } from '../src/engine/steps';
import { switchMode } from '../src/engine/switcher';
import { createMachine, type Machine } from '../src/machine';
import { silentLogger, streamLogger } from '../src/system/logger';
import type { Logger } from '../src/engine/logger';
import { chooseManager, leftoverUnitFiles, removeUnitFiles, UNIT_PREFIX, type DemoManager } from './manager';
import { naiveSwitch } from './naive';
import { workstationProfile, type CardSet } from './profile';
import { comparisonTable, makeStyle, seconds, whatHappened, type Comparison, type Style } from './report';
import { serveVscode } from './vscode';
import { freePortBase } from './ports';
import { bringUp, type Workstation } from './workstation';

/** blank → the card set's lap (one card: code → rag → speak → code → blank), `laps` times (later laps find their services asleep). */
function routeOf(lap: string[], laps: number): string[] {
  return ['blank', ...Array.from({ length: laps }, () => lap).flat()];
}

const HELP = `Usage: npm run demo -- [options]   (or: node out/demo/main.js [options])

Brings up a demo workstation (eight fake inference servers as systemd user units, a fake GPU),
switches it through blank → code → rag → speak → code → blank with gpumod and with plain
stop/start, and prints both times. Removes everything it started, also on Ctrl-C.

Options:
  --gpu-gb 32|24          the fake card (default 32; 24 is the tighter RTX 4090 case)
  --gpus 2x24             two fake 24 GB cards instead: services pinned to card 0 or card 1 and a
                          34 GB vLLM spread over both; route blank → code → large → rag → speak →
                          large → blank
  --time-scale N          the fakes run N times faster than real servers (default 10; 50 = quick look)
  --vscode                serve the real VS Code with the extension on the demo workstation and
                          wait for Ctrl-C, instead of the scripted switches
  --laps N                drive the route N times (default 1); later laps wake what earlier ones
                          put to sleep
  --manager session|sandbox   force the systemd user manager (default: your session if reachable)
  --verbose               log every systemctl, nvidia-smi and HTTP call to stderr
  -h, --help              this help
`;

interface DemoOptions {
  card: CardSet;
  timeScale: number;
  laps: number;
  vscode: boolean;
  manager?: 'session' | 'sandbox';
  verbose: boolean;
}

class UsageError extends Error {}

const CLEANED = 'Cleaned up: units, fake servers, fake GPU, manager (if ours), temporary directories.\n';

function parseDemoArgs(argv: string[]): DemoOptions | 'help' {
  const opts: DemoOptions = { card: '32', timeScale: 10, laps: 1, vscode: false, verbose: false };
  let cardsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case '-h':
      case '--help':
        return 'help';
      case '--gpu-gb': {
        const v = value();
        if (v !== '32' && v !== '24') throw new UsageError(`--gpu-gb is 32 or 24, not ${v}`);
        if (cardsGiven) throw new UsageError('--gpu-gb and --gpus each choose the cards: give one of them');
        opts.card = v;
        cardsGiven = true;
        break;
      }
      case '--gpus': {
        const v = value();
        if (v !== '2x24') throw new UsageError(`--gpus is 2x24 (two 24 GB cards), not ${v}; one card: --gpu-gb 32|24`);
        if (cardsGiven) throw new UsageError('--gpu-gb and --gpus each choose the cards: give one of them');
        opts.card = v;
        cardsGiven = true;
        break;
      }
      case '--time-scale': {
        const v = Number(value());
        if (!Number.isFinite(v) || v < 1 || v > 1000) throw new UsageError('--time-scale is a number from 1 to 1000');
        opts.timeScale = v;
        break;
      }
      case '--laps': {
        const v = Number(value());
        if (!Number.isInteger(v) || v < 1 || v > 10) throw new UsageError('--laps is a whole number from 1 to 10');
        opts.laps = v;
        break;
      }
      case '--vscode':
        opts.vscode = true;
        break;
      case '--manager': {
        const v = value();
        if (v !== 'session' && v !== 'sandbox') throw new UsageError(`--manager is session or sandbox, not ${v}`);
        opts.manager = v;
        break;
      }
      case '--verbose':
        opts.verbose = true;
        break;
      default:
        throw new UsageError(`unknown option ${argv[i]} (try --help)`);
    }
  }
  return opts;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Resources in the order they were made; undone in reverse, each at most once, errors reported. */
class Cleanup {
  private readonly undo: Array<{ what: string; fn: () => Promise<void> }> = [];
  private running: Promise<void> | undefined;

  add(what: string, fn: () => Promise<void>): void {
    this.undo.push({ what, fn });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const { what, fn } of this.undo.reverse()) {
        try {
          await fn();
        } catch (e) {
          process.stderr.write(`demo: cleaning up (${what}) failed: ${e instanceof Error ? e.message : String(e)}\n`);
        }
      }
    })();
    return this.running;
  }
}

function stepLine(e: StepEvent, style: Style): string | undefined {
  if (e.kind !== 'end') return undefined;
  const x = e.entry;
  const mark = x.result === 'ok' ? style.ok : style.fail;
  const what = `${x.action}${x.depth ? ` ${x.depth}` : ''}`;
  const at = style.dim(`+${(x.startMs / 1000).toFixed(1)}s`.padStart(7));
  const tail = x.result === 'ok' ? '' : `  ${style.red(`${x.result}${x.error ? `: ${x.error}` : ''}`)}`;
  return `    ${mark} ${at}  ${what.padEnd(10)} ${x.service.padEnd(20)} ${seconds(x.ms).padStart(7)}${tail}`;
}

async function loadWorkstationConfig(ws: Workstation): Promise<Config> {
  const r = await loadConfig(ws.configPath);
  if (!r.ok) throw new Error(`the generated config is invalid:\n${formatProblems(r.problems)}`);
  return r.config;
}

async function gpumodRun(route: string[], config: Config, machine: Machine, style: Style, signal: AbortSignal, out: (s: string) => void): Promise<Array<{ ms: number; what: string }>> {
  const times: Array<{ ms: number; what: string }> = [];
  for (let i = 1; i < route.length; i++) {
    const [from, to] = [route[i - 1], route[i]];
    out(`\n  ${style.bold(`${from} → ${to}`)}\n`);
    const t0 = performance.now();
    const result = await switchMode(config, to, machine.ports, {
      signal,
      owner: 'gpumod demo',
      // Services the switch leaves stopped are noise here.
      onPlan: (plan) => out(describePlan(plan).filter((l) => !/^\s+keep stopped\s/.test(l)).map((l) => `    ${/^(note|GPU|host RAM)/.test(l) ? style.dim(l) : l}`).join('\n') + '\n'),
      onStep: (e) => {
        const line = stepLine(e, style);
        if (line) out(`${line}\n`);
      },
    });
    const ms = performance.now() - t0;
    if (!result.ok) throw new Error(result.message);
    out(`    ${style.green(`in ${to} after ${seconds(ms)}`)}\n`);
    times.push({ ms, what: whatHappened(result.timeline) });
  }
  return times;
}

async function naiveRun(route: string[], config: Config, ws: Workstation, machine: Machine, log: Logger, style: Style, signal: AbortSignal, out: (s: string) => void): Promise<number[]> {
  const times: number[] = [];
  for (let i = 1; i < route.length; i++) {
    const [from, to] = [route[i - 1], route[i]];
    out(`\n  ${style.bold(`${from} → ${to}`)}\n`);
    const t0 = performance.now();
    await naiveSwitch(config, to, { systemd: ws.systemd, http: machine.http, log }, signal, (s) => {
      out(`    ${style.ok} ${style.dim(`+${((performance.now() - t0 - s.ms) / 1000).toFixed(1)}s`.padStart(7))}  ${s.action.padEnd(10)} ${s.service.padEnd(20)} ${seconds(s.ms).padStart(7)}\n`);
    });
    const ms = performance.now() - t0;
    out(`    ${style.green(`in ${to} after ${seconds(ms)}`)}\n`);
    times.push(ms);
  }
  return times;
}

async function demo(opts: DemoOptions, cleanup: Cleanup, signal: AbortSignal, untilAborted: Promise<void>): Promise<number> {
  const style = makeStyle(Boolean(process.stdout.isTTY) && !process.env.NO_COLOR);
  const out = (s: string): void => void process.stdout.write(s);
  const log: Logger = opts.verbose ? streamLogger((l) => process.stderr.write(l), 'info') : { ...silentLogger, error: (m) => process.stderr.write(`[error] ${m instanceof Error ? m.message : m}\n`) };
  const layout = workstationProfile(opts.card);
  const card = layout.cards[0];
  const cards = layout.cards.length === 1 ? `a fake ${card.name} (${Math.round(card.totalMb / 1024)} GB)` : `${layout.cards.length} fake ${card.name}s (${layout.cards.map((c) => Math.round(c.totalMb / 1024)).join(' + ')} GB)`;
  const t0 = performance.now();

  const scratch = mkdtempSync(join(tmpdir(), 'gpumod-demo-'));
  cleanup.add('scratch directory', async () => rmSync(scratch, { recursive: true, force: true }));
  out(`${style.bold('gpumod demo')}: ${layout.services.length} services, ${Object.keys(layout.modes).length} modes, ${cards}\n`);
  out(`  scratch: ${scratch}\n`);

  const manager: DemoManager = await chooseManager(scratch, opts.manager);
  cleanup.add('systemd user manager', () => manager.stop());
  // Whatever happens to bring-up, no unit file of ours outlives the demo.
  cleanup.add('unit files', () => removeUnitFiles(manager, leftoverUnitFiles(manager.unitDir)));
  out(`  manager: ${manager.description}\n`);
  if (manager.kind === 'session') await removeUnitFiles(manager, leftoverUnitFiles(manager.unitDir));
  if (signal.aborted) return 130;

  const ws = await bringUp({
    dir: join(scratch, 'workstation'),
    managerEnv: manager.env,
    unitDir: manager.unitDir,
    timeScale: opts.timeScale,
    card: opts.card,
    portBase: await freePortBase(layout.services.length),
    unitPrefix: manager.kind === 'session' ? UNIT_PREFIX : '',
    log,
  });
  cleanup.add('workstation', () => ws.teardown());
  const config = await loadWorkstationConfig(ws);
  const machine = createMachine(config, log, ws.env);
  cleanup.add('HTTP connections', () => machine.close());
  out(`  units:   ${[...ws.units.values()].join(', ')}\n`);
  out(`  config:  ${ws.configPath}\n`);
  out(`  fakes of vLLM, llama.cpp and a FastAPI app run ${opts.timeScale}x faster than the real servers:\n`);
  out(`  measured times are at that speed; the plans' estimates are real-world until the history has some.\n`);
  if (signal.aborted) return 130;

  if (opts.vscode) {
    out(`\nStarting the VS Code server...\n`);
    const server = await serveVscode(ws.env, scratch);
    cleanup.add('VS Code server', () => server.stop());
    out(`\n  ${style.bold('Open')} ${style.cyan(server.url)}\n`);
    out(`  (on a remote machine, forward the port first: ssh -L ${server.port}:127.0.0.1:${server.port} HOST)\n`);
    out(`  The GPU view and the status bar show the demo workstation; switch with "gpumod: Switch Mode".\n`);
    out(`  ${style.dim('Ctrl-C stops VS Code and removes the workstation.')}\n`);
    await untilAborted;
    return 0;
  }

  out(`\n${style.bold('1/2 gpumod')}: sleep what leaves, wake what returns, cold-start only what has no process\n`);
  const route = routeOf(layout.lap, opts.laps);
  const gpumod = await gpumodRun(route, config, machine, style, signal, out);

  out(`\n${style.bold('2/2 stop/start')}: stop what the mode does not need, start what it lacks, one at a time\n`);
  await ws.stopAll();
  const naive = await naiveRun(route, config, ws, machine, log, style, signal, out);

  const rows: Comparison[] = gpumod.map((g, i) => ({ from: route[i], to: route[i + 1], naiveMs: naive[i], gpumodMs: g.ms, what: g.what }));
  out(`\n${comparisonTable(rows, style)}`);
  out(`\nTimes at ${opts.timeScale}x speed: multiply by ${opts.timeScale} for real servers. gpumod cold-starts in parallel and wakes what it put\n`);
  out(`to sleep; a switch still waits for its slowest cold start (vllm-embedding cannot sleep: 120 s real).${opts.laps === 1 ? ' --laps 2 adds a round of returns.' : ''}\n`);
  out(`Took ${seconds(performance.now() - t0)}; cleaning up...\n`);
  return 0;
}

async function main(): Promise<void> {
  let opts: DemoOptions | 'help';
  try {
    opts = parseDemoArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`demo: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (opts === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const cleanup = new Cleanup();
  const ctl = new AbortController();
  // Every step of every switch listens on this one signal.
  setMaxListeners(0, ctl.signal);
  const untilAborted = new Promise<void>((r) => ctl.signal.addEventListener('abort', () => r(), { once: true }));
  const vscode = opts.vscode;
  let exitCode = 0;
  const run = demo(opts, cleanup, ctl.signal, untilAborted)
    .then((code) => (exitCode = code))
    .catch((e: unknown) => {
      if (ctl.signal.aborted) return;
      process.stderr.write(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}\n`);
      exitCode = 1;
    })
    .finally(() => cleanup.run());

  const onSignal = (signal: NodeJS.Signals): void => {
    if (ctl.signal.aborted) {
      process.stderr.write('still cleaning up, a few seconds...\n');
      return;
    }
    process.stderr.write(`\n${signal}: stopping and cleaning up...\n`);
    ctl.abort();
    // Ctrl-C ends a --vscode session normally; it interrupts a scripted run.
    exitCode = vscode ? 0 : 128 + (signal === 'SIGINT' ? 2 : 15);
    // A step that ignores cancellation must not keep the workstation alive: clean up after 20 s anyway.
    void Promise.race([run, delay(20_000)])
      .then(() => cleanup.run())
      .then(() => {
        process.stdout.write(CLEANED);
        process.exit(exitCode);
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await run;
  if (!ctl.signal.aborted) {
    process.stdout.write(CLEANED);
    process.exit(exitCode);
  }
}

void main();
