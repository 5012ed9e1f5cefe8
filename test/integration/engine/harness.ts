// Shared by the engine integration tests (bundled into each): the profile workstation (demo/workstation)
// as real units of the sandbox's systemd user manager, the gpumod CLI run as a child process against
// it, and the checks every switch must pass: what `status`, the fake GPU, the state file and the
// history say afterwards.
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cardsOf, workstationProfile, type CardSet } from '../../../demo/profile';
import { bringUp, REPO, type Workstation } from '../../../demo/workstation';
import { silentLogger } from '../../../src/system/logger';
import type { UnitStatus } from '../../../src/engine/machinePorts';
import { managerEnv, scratchDir, unitDir, unitPrefix } from '../support/testManager';
import { waitFor } from '../support/wait';

export const CLI = join(REPO, 'dist/cli.js');
/** Every fake duration is divided by this: a 120 s vllm-embedding cold start takes 1.2 s. */
export const TIME_SCALE = 100;
/** Smallest residue in the profile is 300 MB: a wrong service state always misses by more. */
export const VRAM_TOLERANCE_MB = 150;
export const MARGIN_MB = 512;

export type Card = CardSet;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StatusService {
  name: string;
  state: string;
  sleep?: string;
  healthy: boolean;
  vram_mb?: number;
}

export interface Status {
  mode: string | null;
  drift: string[];
  switching: unknown;
  services: StatusService[];
  gpu: Array<{ index: number; total_mb: number; used_mb: number; foreign_mb: number }>;
}

export interface SwitchStep {
  service: string;
  action: string;
  phase?: string;
  depth?: string;
  start_ms: number;
  ms: number;
  result: string;
}

export interface SwitchJson {
  ok: boolean;
  from: string | null;
  to: string;
  mode: string | null;
  total_ms: number;
  noop: boolean;
  cancelled: boolean;
  rolled_back: boolean;
  steps: SwitchStep[];
  plan: { noop: boolean; notes: string[]; steps: Array<{ service: string; action: string; depth?: string }>; budgets: Array<{ gpu: number; after_mb: number; total_mb: number }> };
}

export interface HistoryRecord {
  kind: string;
  from?: string;
  to?: string;
  service?: string;
  totalMs: number;
  ok: boolean;
  rolledBack: boolean;
  cancelled: boolean;
  steps: unknown[];
}

export interface Harness {
  card: Card;
  ws: Workstation;
  dir: string;
  env: Record<string, string>;
  /** Runs `gpumod ARGS` to completion. */
  cli(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** Starts `gpumod ARGS` and returns the child (for Ctrl-C and concurrent runs). */
  spawnCli(args: string[]): { child: ChildProcess; done: Promise<CliResult> };
  status(): Promise<Status>;
  history(): Promise<HistoryRecord[]>;
  stateFile(): { mode?: string; switching?: unknown; services: Record<string, { state: string; sleep?: string }> } | undefined;
  unit(service: string): Promise<UnitStatus>;
  teardown(): Promise<void>;
}

export async function startWorkstation(
  card: Card,
  portBase: number,
  opts: { timeScale?: number; prefix: string; extraArgs?: Record<string, string[]> },
): Promise<Harness> {
  assert.ok(existsSync(CLI), `${CLI} is missing: run \`node esbuild.mjs\` first`);
  const dir = mkdtempSync(join(scratchDir(), `engine-${card}-`));
  const ws = await bringUp({
    dir,
    managerEnv: managerEnv(),
    unitDir: unitDir(),
    timeScale: opts.timeScale ?? TIME_SCALE,
    card,
    portBase,
    unitPrefix: `${unitPrefix()}${opts.prefix}`,
    log: silentLogger,
    extraArgs: opts.extraArgs,
  });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...ws.env };
  const spawnCli = (args: string[]): { child: ChildProcess; done: Promise<CliResult> } => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<CliResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
    });
    return { child, done };
  };
  const cli = async (args: string[], timeoutMs = 60_000): Promise<CliResult> => {
    const { child, done } = spawnCli(args);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  };
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await cli(args);
    assert.equal(r.code, 0, `gpumod ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const statePath = join(ws.env.XDG_STATE_HOME, 'gpumod', 'state.json');
  return {
    card,
    ws,
    dir,
    env,
    cli,
    spawnCli,
    status: () => json<Status>(['status', '--json']),
    history: () => json<HistoryRecord[]>(['history', '--json', '--limit', '500']),
    stateFile: () => (existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : undefined),
    unit: (service) => ws.systemd.show(ws.units.get(service) as string, { timeoutMs: 10_000 }),
    async teardown(): Promise<void> {
      try {
        // Every process of every unit, children (EngineCore, llama-server models) included.
        const inUnits = (
          await Promise.all([...ws.units.values()].map(async (u) => ws.systemd.pids(await ws.systemd.show(u, { timeoutMs: 10_000 })).catch(() => [] as number[])))
        ).flat();
        await ws.teardown();
        // And every fake of this workstation has its GPU directory on its command line.
        const leftovers = (): number[] => [...new Set([...inUnits.filter(alive), ...fakesOf(dir)])];
        const gone = await waitFor('the fakes to exit', () => (leftovers().length === 0 ? true : undefined), 10_000).catch(() => false);
        assert.ok(gone, `processes left behind: ${leftovers().join(', ')}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function alive(pid: number): boolean {
  try {
    // A zombie still has a /proc entry; its state letter says it is gone.
    return !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** PIDs of live processes whose command line names `dir` (the fakes get --gpu-dir DIR/gpu). */
export function fakesOf(dir: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', `--gpu-dir ${join(dir, 'gpu')}`], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

// ---- what the profile says the card should hold ----

/** VRAM a service holds in an observed state, by the profile's figures: in all, or (`gpu`) on that card, an even share. */
export function profileVram(s: StatusService, card: Card = '32', gpu?: number): number {
  const p = workstationProfile(card).services.find((x) => x.name === s.name);
  assert.ok(p, `${s.name} is not in the profile`);
  const all = s.state === 'running' ? Number(p.config.vram_mb) : s.state === 'sleeping' ? Number(p.config.sleep_vram_mb ?? p.config.vram_mb) : 0;
  if (gpu === undefined) return all;
  const cards = cardsOf(p);
  return cards.includes(gpu) ? all / cards.length : 0;
}

export function byName(st: Status): Map<string, StatusService> {
  return new Map(st.services.map((s) => [s.name, s]));
}

/** Each card shows what the profile's figures for the observed states say (`expectedUsedMb`: card 0's, or each card's). */
export function assertVram(st: Status, card: Card, expectedUsedMb?: number | number[]): void {
  const cards = workstationProfile(card).cards;
  assert.equal(st.gpu.length, cards.length, 'the fake cards');
  cards.forEach((c, i) => {
    const used = st.gpu[i]?.used_mb;
    assert.equal(st.gpu[i]?.total_mb, c.totalMb, `the fake card ${i}`);
    const fromStates = st.services.reduce((t, s) => t + profileVram(s, card, i), 0);
    assert.ok(Math.abs(used - fromStates) <= VRAM_TOLERANCE_MB, `GPU ${i} shows ${used} MB used; the profile's figures for the observed states say ${fromStates} MB`);
    const expected = Array.isArray(expectedUsedMb) ? expectedUsedMb[i] : i === 0 ? expectedUsedMb : undefined;
    if (expected !== undefined) assert.ok(Math.abs(used - expected) <= VRAM_TOLERANCE_MB, `GPU ${i} shows ${used} MB used, expected ${expected} MB`);
    assert.ok(used + MARGIN_MB <= c.totalMb, `${used} MB + the ${MARGIN_MB} MB margin does not fit GPU ${i} (${c.totalMb} MB)`);
  });
  // Attribution by cgroup: each service's own figure matches its state.
  for (const s of st.services) {
    assert.ok(Math.abs((s.vram_mb ?? 0) - profileVram(s, card)) <= VRAM_TOLERANCE_MB, `${s.name} (${s.state}) holds ${s.vram_mb} MB, the profile says ${profileVram(s, card)} MB`);
  }
}

/** The documented shape of `gpumod switch --json`. */
export function assertSwitchShape(j: SwitchJson, target: string): void {
  assert.equal(typeof j.ok, 'boolean');
  assert.ok(j.from === null || typeof j.from === 'string', `from: ${String(j.from)}`);
  assert.equal(j.to, target);
  assert.ok(Number.isFinite(j.total_ms) && j.total_ms >= 0, `total_ms: ${j.total_ms}`);
  assert.equal(typeof j.rolled_back, 'boolean');
  assert.ok(Array.isArray(j.steps));
  for (const s of j.steps) {
    assert.equal(typeof s.service, 'string');
    assert.equal(typeof s.action, 'string');
    assert.ok(Number.isFinite(s.ms) && s.ms >= 0, JSON.stringify(s));
    assert.equal(typeof s.result, 'string');
  }
}

/** How many times the CLI ran nvidia-smi (its --verbose log has one line per process). */
export function nvidiaSmiRuns(stderr: string): number {
  return stderr.split('\n').filter((l) => /> nvidia-smi /.test(l)).length;
}

/** The plan's steps that did something, as "action service[(depth)]", sorted. */
export function actions(j: SwitchJson): string[] {
  return j.steps
    .filter((s) => s.phase === 'release' || s.phase === 'acquire')
    .map((s) => `${s.action} ${s.service}${s.action === 'sleep' && s.depth ? `(${s.depth})` : s.action === 'wake' && s.depth ? `(${s.depth})` : ''}`)
    .sort();
}

export interface SwitchCheck {
  json: SwitchJson;
  /** The CLI's stderr (its log, with --verbose). */
  stderr: string;
  before: Status;
  after: Status;
}

/**
 * `gpumod switch MODE --json`, then everything that must agree: exit 0 and the documented JSON;
 * `status` in the target mode with every target service running and healthy, every other service
 * where the plan left it (asleep when it slept, stopped when it stopped, untouched otherwise); the
 * fake GPU's memory as the profile's figures say; the state file and the last history record.
 */
export async function switchAndCheck(h: Harness, target: string, expectedUsedMb?: number | number[], extraArgs: string[] = []): Promise<SwitchCheck> {
  const before = await h.status();
  const historyBefore = await h.history();
  const r = await h.cli(['switch', target, '--json', ...extraArgs]);
  assert.equal(r.code, 0, `switch ${target} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const json = JSON.parse(r.stdout) as SwitchJson;
  assertSwitchShape(json, target);
  assert.equal(json.ok, true, JSON.stringify(json));
  assert.equal(json.rolled_back, false);
  assert.equal(json.mode, target);
  assert.equal(json.from, before.mode, 'from is the mode status reported before');

  const after = await h.status();
  assert.equal(after.mode, target, `status after the switch: ${JSON.stringify(after.drift)}`);
  assert.equal(after.switching, null);
  const now = byName(after);
  const was = byName(before);
  const planned = new Map(json.plan.steps.map((s) => [s.service, s]));
  for (const name of workstationProfile(h.card).modes[target].services) assert.deepEqual([now.get(name)?.state, now.get(name)?.healthy], ['running', true], `${name} is in ${target}`);
  for (const [name, s] of now) {
    const step = planned.get(name);
    const prev = was.get(name);
    switch (step?.action) {
      case 'sleep':
        assert.equal(s.state, 'sleeping', `${name} was put to sleep`);
        assert.equal(s.sleep, step.depth, `${name} sleep depth`);
        break;
      case 'stop':
        assert.equal(s.state, 'stopped', `${name} was stopped`);
        break;
      case 'wake':
      case 'load':
      case 'start':
        assert.equal(s.state, 'running', `${name}: ${step.action}`);
        break;
      default:
        assert.deepEqual([s.state, s.sleep], [prev?.state, prev?.sleep], `${name} was left alone`);
    }
  }
  assertVram(after, h.card, expectedUsedMb);
  // The planner's own forecast of the card agrees with what the card shows.
  for (const [i, g] of after.gpu.entries()) {
    const forecast = json.plan.budgets.find((b) => b.gpu === i)?.after_mb;
    assert.ok(forecast !== undefined && Math.abs(g.used_mb - forecast) <= VRAM_TOLERANCE_MB, `plan forecast ${forecast} MB on GPU ${i}, it shows ${g.used_mb} MB`);
  }

  const state = h.stateFile();
  assert.ok(state, 'state.json written');
  assert.equal(state.mode, target);
  assert.equal(state.switching, undefined, 'no switch marked in progress');
  for (const s of after.services) {
    assert.deepEqual(
      { state: state.services[s.name]?.state, sleep: state.services[s.name]?.sleep },
      { state: s.state, sleep: s.sleep },
      `state.json on ${s.name}`,
    );
  }
  const history = await h.history();
  if (json.noop) {
    assert.equal(history.length, historyBefore.length, 'a no-op switch adds no history record');
  } else {
    assert.equal(history.length, historyBefore.length + 1, 'one history record per switch');
    const last = history[history.length - 1];
    assert.deepEqual(
      { kind: last.kind, from: last.from ?? null, to: last.to, ok: last.ok, rolledBack: last.rolledBack, totalMs: last.totalMs, steps: last.steps.length },
      { kind: 'switch', from: json.from, to: target, ok: true, rolledBack: false, totalMs: json.total_ms, steps: json.steps.length },
    );
  }
  return { json, stderr: r.stderr, before, after };
}

