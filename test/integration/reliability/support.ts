// Shared by the reliability tests (bundled into each): the profile workstation as real units of the
// sandbox's systemd user manager, the real CLI run as child processes against it, runtime and
// start-time faults on the fakes, and the checks every case ends with (state files, orphans).
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { bringUp, fakeArgs, REPO, type Workstation } from '../../../demo/workstation';
import { PROFILE } from '../../../demo/profile';
import { unitOfCgroupFile } from '../../../src/system/gpu';
import { silentLogger } from '../../../src/system/logger';
import type { SystemdAdapter } from '../../../src/system/systemd';
import { quoteExecArg } from '../../../src/system/unitFile';
import { json } from '../../fakes/lib/testHttp';
import { portFree } from '../../../demo/ports';
import { managerCgroup, managerEnv, scratchDir, unitDir as runUnitDir, unitPrefix } from '../support/testManager';

/** Every fake duration is divided by this: a 60 s vLLM cold start takes 0.6 s, a switch 1-2 s. */
export const TIME_SCALE = 100;
/** Real-world ms to give a fake option so that it takes `ms` here. */
export const scaled = (ms: number): string => String(Math.round(ms * TIME_SCALE));
export const CLI = join(REPO, 'dist/cli.js');

/** Short deadlines (seconds) so the hang cases end quickly; still generous for a loaded 2-core machine. */
export const DEADLINES = { wake_timeout_s: 3, sleep_timeout_s: 3, stop_timeout_s: 3, startup_timeout_s: 8 };

export type ServiceName = (typeof PROFILE)[number]['name'];

export interface Rig {
  name: string;
  ws: Workstation;
  /** Environment of every CLI child: the manager, the fake nvidia-smi, the state dir, our gpumod.yaml. */
  env: Record<string, string>;
  configPath: string;
  stateDir: string;
  unitDir: string;
  gpuDir: string;
  systemd: SystemdAdapter;
  unit(svc: string): string;
  port(svc: string): number;
}

export type ConfigEdit = (yaml: { services: Record<string, Record<string, unknown>>; [k: string]: unknown }) => void;

/**
 * The profile's eight services as units `rel<name>-<service>.service` on ports portBase…portBase+7,
 * and a gpumod.yaml of our own: the workstation's, with short deadlines and `edit` applied.
 */
export async function upRig(name: string, portBase: number, edit?: ConfigEdit, card: '32' | '24' = '32'): Promise<Rig> {
  for (let i = 0; i < PROFILE.length; i++) assert.ok(await portFree(portBase + i), `port ${portBase + i} is in use; the reliability tests need ${portBase}-${portBase + PROFILE.length - 1}`);
  const unitDir = runUnitDir();
  const dir = join(scratchDir(), `reliability-${name}`);
  rmSync(dir, { recursive: true, force: true });
  const ws = await bringUp({ dir, managerEnv: managerEnv(), unitDir, timeScale: TIME_SCALE, card, portBase, unitPrefix: `${unitPrefix()}rel${name}-`, log: silentLogger });
  const yaml = parse(readFileSync(ws.configPath, 'utf8')) as Parameters<ConfigEdit>[0];
  for (const svc of Object.values(yaml.services)) Object.assign(svc, DEADLINES);
  edit?.(yaml);
  const configPath = join(dir, 'reliability.yaml');
  writeFileSync(configPath, stringify(yaml, { lineWidth: 0 }));
  const env: Record<string, string> = { ...ws.env, GPUMOD_CONFIG: configPath };
  return {
    name,
    ws,
    env,
    configPath,
    stateDir: join(env.XDG_STATE_HOME, 'gpumod'),
    unitDir,
    gpuDir: join(dir, 'gpu'),
    systemd: ws.systemd,
    unit: (svc) => {
      const u = ws.units.get(svc);
      assert.ok(u, `no service ${svc}`);
      return u;
    },
    port: (svc) => {
      const p = ws.ports.get(svc);
      assert.ok(p, `no service ${svc}`);
      return p;
    },
  };
}

/** Stops every unit, removes our drop-ins and unit files, and checks nothing of ours still runs. */
export async function downRig(rig: Rig): Promise<void> {
  await clearStartArgs(rig);
  await rig.ws.teardown();
  const left = await settleOrphans(rig, true);
  assert.deepEqual(left, [], 'fake processes outlived the workstation');
}

// ---- the CLI as a child process ----

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunningCli {
  pid: number;
  child: ChildProcess;
  stderr(): string;
  /** Resolves once stderr (the --verbose log) satisfies `test`; rejects if the process ends first or after `timeoutMs`. */
  waitForLog(what: string, test: (stderr: string) => boolean, timeoutMs?: number): Promise<void>;
  done: Promise<CliRun>;
}

/** Starts `gpumod ARGS` as its own process with the rig's environment (plus `extra`). */
export function spawnCli(rig: Pick<Rig, 'env'>, args: string[], extra: Record<string, string> = {}): RunningCli {
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...rig.env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const l of [...listeners]) l();
  });
  const done = new Promise<CliRun>((res) => child.once('close', (code, signal) => res({ code, signal, stdout, stderr, ms: Date.now() - t0 })));
  assert.ok(child.pid, 'the CLI did not start');
  return {
    pid: child.pid,
    child,
    stderr: () => stderr,
    done,
    waitForLog(what, test, timeoutMs = 60_000) {
      return new Promise<void>((res, rej) => {
        const finish = (err?: Error): void => {
          listeners.delete(check);
          clearTimeout(timer);
          if (err) rej(err);
          else res();
        };
        const check = (): void => {
          if (test(stderr)) finish();
        };
        const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr:\n${stderr}`)), timeoutMs);
        void done.then((r) => finish(new Error(`gpumod exited (${r.code ?? r.signal}) before ${what}; stderr:\n${r.stderr}\nstdout:\n${r.stdout}`)));
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs `gpumod ARGS` to the end (bounded: a CLI that never exits fails the test, and is killed). */
export async function cli(rig: Pick<Rig, 'env'>, args: string[], extra: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliRun> {
  const run = spawnCli(rig, args, extra);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const r = await run.done;
  clearTimeout(timer);
  assert.ok(r.signal === null, `gpumod ${args.join(' ')} did not finish within ${timeoutMs} ms (killed)\n${r.stderr}`);
  return r;
}

export interface StatusJson {
  mode: string | null;
  recorded_mode: string | null;
  drift: string[];
  switching: { from?: string; to: string; pid: number; startedAt: number } | null;
  services: Array<{ name: string; state: string; sleep?: string; healthy: boolean; vram_mb?: number; detail?: string }>;
}

export async function status(rig: Rig, extra: Record<string, string> = {}): Promise<StatusJson> {
  const r = await cli(rig, ['status', '--json'], extra, 60_000);
  assert.equal(r.code, 0, `gpumod status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

export function stateOf(s: StatusJson, svc: string): string {
  return s.services.find((x) => x.name === svc)?.state ?? 'absent';
}

/** `gpumod switch MODE`, which must succeed (setting up a case). */
export async function switchTo(rig: Rig, mode: string): Promise<void> {
  const r = await cli(rig, ['switch', mode, '--json']);
  assert.equal(r.code, 0, `setting up: gpumod switch ${mode} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
}

// ---- the state files, read as a user (or the next gpumod) would ----

export interface StateFile {
  mode?: string;
  at: number;
  services: Record<string, { state: string; sleep?: string }>;
  switching?: { from?: string; to: string; pid: number; startedAt: number };
}

export interface HistoryRecord {
  kind: 'switch' | 'service';
  from?: string;
  to?: string;
  ok: boolean;
  rolledBack: boolean;
  cancelled: boolean;
  error?: string;
  startedAt: number;
  steps: Array<{ service: string; action: string; phase?: string; result: string; startMs: number; ms: number }>;
}

/** state.json, which must exist and be valid JSON of the expected shape. */
export function readState(rig: Rig): StateFile {
  const text = readFileSync(join(rig.stateDir, 'state.json'), 'utf8');
  const v = JSON.parse(text) as StateFile;
  assert.equal(typeof v.at, 'number', `state.json has no "at": ${text}`);
  assert.equal(typeof v.services, 'object', `state.json has no "services": ${text}`);
  return v;
}

/** history.jsonl, every line of which must parse. */
export function readHistory(rig: Rig): HistoryRecord[] {
  let text: string;
  try {
    text = readFileSync(join(rig.stateDir, 'history.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as HistoryRecord;
      } catch (e) {
        throw new Error(`history.jsonl line ${i + 1} is not JSON (${String(e)}): ${l.slice(0, 200)}`);
      }
    });
}

// ---- faults ----

export type FaultKind = '500' | 'hang' | 'crash' | 'refuse' | 'engine-dead';

/** POST /_fake/fault on the running fake of `svc`. */
export async function injectFault(rig: Rig, svc: string, fault: { endpoint: string; kind: FaultKind; after?: number; times?: number; forMs?: number }): Promise<void> {
  const r = await json('POST', `http://127.0.0.1:${rig.port(svc)}/_fake/fault`, fault, 10_000);
  assert.equal(r.status, 200, `injecting ${JSON.stringify(fault)} into ${svc}: ${r.body}`);
}

/** The fake's /_fake/state, or undefined when it does not answer (not listening, stopped). */
export async function fakeState(rig: Rig, svc: string): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await json('GET', `http://127.0.0.1:${rig.port(svc)}/_fake/state`, undefined, 3000);
    return r.status === 200 ? (r.value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** DELETE /_fake/fault on every fake that answers. */
export async function clearFaults(rig: Rig): Promise<void> {
  await Promise.all(
    PROFILE.map(async (s) => {
      try {
        await json('DELETE', `http://127.0.0.1:${rig.port(s.name)}/_fake/fault`, undefined, 3000);
      } catch {
        /* not listening: nothing to clear */
      }
    }),
  );
}

const DROP_IN = 'reliability.conf';
const withStartArgs = new Set<string>();

/**
 * Faults that must exist when the process starts (a bad option, a slow start, a release lag): a
 * drop-in replacing the unit's ExecStart with the profile's command plus `extra`. Takes effect at
 * the unit's next start.
 */
export async function setStartArgs(rig: Rig, svc: string, extra: string[]): Promise<void> {
  const s = PROFILE.find((p) => p.name === svc);
  assert.ok(s, `no profile service ${svc}`);
  const argv = [process.execPath, ...fakeArgs(s, rig.port(svc), { timeScale: TIME_SCALE, extraArgs: { [svc]: extra } }, rig.gpuDir)];
  const dir = join(rig.unitDir, `${rig.unit(svc)}.d`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, DROP_IN), `[Service]\nExecStart=\nExecStart=${argv.map(quoteExecArg).join(' ')}\n`);
  withStartArgs.add(svc);
  await rig.systemd.daemonReload({ timeoutMs: 15_000 });
}

/** Removes every drop-in; units that ran with one are stopped, so their next start is the profile's. */
export async function clearStartArgs(rig: Rig): Promise<void> {
  if (withStartArgs.size === 0) return;
  const svcs = [...withStartArgs];
  withStartArgs.clear();
  for (const svc of svcs) rmSync(join(rig.unitDir, `${rig.unit(svc)}.d`), { recursive: true, force: true });
  await rig.systemd.daemonReload({ timeoutMs: 15_000 });
  await Promise.all(svcs.map((svc) => rig.systemd.stop(rig.unit(svc), { timeoutMs: 30_000 })));
}

/** Stops the unit and forgets a failed state, so the next switch cold-starts it (with its current ExecStart). */
export async function stopUnit(rig: Rig, svc: string): Promise<void> {
  await rig.systemd.stop(rig.unit(svc), { timeoutMs: 30_000 });
  await rig.systemd.resetFailed(rig.unit(svc), { timeoutMs: 10_000 });
}

export async function resetFailedAll(rig: Rig): Promise<void> {
  await Promise.all(PROFILE.map((s) => rig.systemd.resetFailed(rig.unit(s.name), { timeoutMs: 10_000 })));
}

// ---- orphans ----

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch (e) {
    if ((e as { status?: number }).status === 1) return [];
    throw e;
  }
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Processes of ours that no live unit accounts for: a fake (or a model child: VLLM::EngineCore,
 * llama-server) whose cgroup is not one of our units, a fake on one of our ports outside our units,
 * or a process left in the cgroup of a unit that systemd says is not running. With `all`, any
 * process in our units' cgroups counts (after teardown).
 */
export async function orphans(rig: Rig, all = false): Promise<string[]> {
  const mine = new Set(PROFILE.map((s) => rig.unit(s.name)));
  const ports = new Set(PROFILE.map((s) => String(rig.port(s.name))));
  const manager = managerCgroup();
  const pids = new Set([...pgrep(`${REPO}/out/test/fakes/`), ...pgrep('^(VLLM::EngineCore|llama-server)')]);
  const out: string[] = [];
  const states = new Map<string, string>();
  for (const pid of pids) {
    const cg = readOr(`/proc/${pid}/cgroup`);
    const argv = (readOr(`/proc/${pid}/cmdline`) ?? '').split('\0');
    if (cg === undefined) continue; // exited meanwhile
    const unit = unitOfCgroupFile(cg);
    const portArg = argv[argv.indexOf('--port') + 1];
    const onOurPort = argv.includes('--port') && ports.has(portArg) && argv.some((a) => a.startsWith(`${REPO}/out/test/fakes/`));
    const inOurManager = cg.includes(`${manager}/`);
    if (!(unit && mine.has(unit)) && !onOurPort) continue; // another suite's
    const what = `PID ${pid} (${argv.filter(Boolean).slice(0, 4).join(' ').slice(0, 120)})`;
    if (!unit || !mine.has(unit) || !inOurManager) {
      out.push(`${what} is outside our units (cgroup ${cg.trim()})`);
      continue;
    }
    if (all) {
      out.push(`${what} still runs in ${unit}`);
      continue;
    }
    if (!states.has(unit)) states.set(unit, (await rig.systemd.show(unit, { timeoutMs: 10_000 })).activeState);
    const st = states.get(unit);
    if (st !== 'active' && st !== 'activating' && st !== 'deactivating') out.push(`${what} runs in ${unit}, which is ${st}`);
  }
  return out;
}

/** Orphans that stay: polled (a stop or a crash takes a moment to reap), bounded. */
export async function settleOrphans(rig: Rig, all = false, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await orphans(rig, all);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function assertNoOrphans(rig: Rig): Promise<void> {
  const left = await settleOrphans(rig);
  assert.deepEqual(left, [], 'orphaned fake processes');
}

/** Polls `check` until it returns a value (bounded), or fails naming `what`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
