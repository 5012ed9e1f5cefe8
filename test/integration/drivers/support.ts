// Shared by the driver integration tests (bundled into each): a faithful fake run as a unit of the
// sandbox's real systemd user manager, the real adapters (systemd, fake nvidia-smi, node:http), and
// assertions on what `observe` reports after every step.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatProblems, parseConfig } from '../../../src/config/load';
import type { Config, ServiceConfig } from '../../../src/config/types';
import type { DriverContext, SleepDepth } from '../../../src/engine/driverPort';
import { driverFor } from '../../../src/drivers/registry';
import { systemClock } from '../../../src/engine/clock';
import { observe, observeService } from '../../../src/engine/observe';
import type { ObservePorts } from '../../../src/engine/ports';
import type { ServiceObservation, ServiceState } from '../../../src/engine/types';
import { isGpumodError, type GpumodErrorCode } from '../../../src/errors';
import { createGpu } from '../../../src/system/gpu';
import { createHttpClient } from '../../../src/system/http';
import { silentLogger } from '../../../src/system/logger';
import { createSystemd, type SystemdAdapter } from '../../../src/system/systemd';
import type { HttpClient } from '../../../src/engine/machinePorts';
import type { UnitSpec } from '../../../src/system/unitFile';
import { json } from '../../fakes/lib/testHttp';
import { installUnit, removeUnit, managerEnv } from '../support/testManager';

export type FakeName = 'vllm' | 'llamaRouter' | 'hookServer' | 'plainServer';

/** Every fake duration is divided by this: a 60 s vLLM cold start takes 0.6 s. */
export const TIME_SCALE = 100;
/** Real-world ms to pass as a fake's duration option so that it takes `ms` here. */
export const scaled = (ms: number): string => String(ms * TIME_SCALE);

const REPO = process.cwd();
const FAKE_GPU_TOTAL_MB = '32768';

/** The services of a small gpumod.yaml, parsed by the real loader so they carry its defaults. */
export function servicesFromYaml(text: string): Map<string, ServiceConfig> {
  const r = parseConfig(text, 'gpumod.yaml');
  if (!r.ok) throw new Error(`test config is invalid:\n${formatProblems(r.problems)}`);
  return r.config.services;
}

export interface RecordingHttp extends HttpClient {
  /** The exchanges since the last `take()`, as `POST /sleep?level=1` (a JSON body appended). */
  take(): string[];
  close(): Promise<void>;
}

/** The real HTTP client, recording what goes over the wire so tests can assert the protocol. */
function recordingHttp(): RecordingHttp {
  const inner = createHttpClient(silentLogger, { keepAliveMs: 500 });
  let calls: string[] = [];
  return {
    request(req) {
      const u = new URL(req.url);
      const body = req.json === undefined ? '' : ` ${JSON.stringify(req.json)}`;
      calls.push(`${req.method} ${u.pathname}${u.search}${body}`);
      return inner.request(req);
    },
    take() {
      const out = calls;
      calls = [];
      return out;
    },
    close: () => inner.close(),
  };
}

export interface Expected {
  state: ServiceState;
  /** Compared always: leaving it out asserts that the observation has no sleep depth. */
  sleep?: SleepDepth;
  healthy?: boolean;
  detail?: RegExp;
  /** VRAM the fake GPU attributes to the unit by cgroup; asking for it runs the fake nvidia-smi. */
  vramMb?: number;
}

function mismatch(o: ServiceObservation, e: Expected): string | undefined {
  const bad: string[] = [];
  if (o.state !== e.state) bad.push(`state ${o.state} ≠ ${e.state}`);
  if (o.sleep !== e.sleep) bad.push(`sleep ${o.sleep} ≠ ${e.sleep}`);
  if (e.healthy !== undefined && o.healthy !== e.healthy) bad.push(`healthy ${o.healthy} ≠ ${e.healthy}`);
  if (e.detail && !e.detail.test(o.detail ?? '')) bad.push(`detail ${JSON.stringify(o.detail)} !~ ${e.detail}`);
  if (e.vramMb !== undefined && o.vramMb !== e.vramMb) bad.push(`vramMb ${o.vramMb} ≠ ${e.vramMb}`);
  return bad.length ? bad.join('; ') : undefined;
}

function describeObservation(o: ServiceObservation): string {
  const { unit, ...rest } = o;
  return JSON.stringify({ ...rest, unit: unit && `${unit.activeState}/${unit.subState} result=${unit.result} status=${unit.execMainStatus}` });
}

/** Whether `port` can be listened on now (tests use fixed ports, so a clash must fail loudly). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** Command lines of live fake servers listening on one of `ports` (from pgrep; none → []). */
export function fakeProcessesOn(ports: readonly number[]): string[] {
  if (ports.length === 0) return [];
  const pattern = `out/test/fakes/[A-Za-z]+\\.js --port (${ports.join('|')})( |$)`;
  try {
    return execFileSync('pgrep', ['-a', '-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch (e) {
    if ((e as { status?: number }).status === 1) return []; // pgrep: nothing matched
    throw e;
  }
}

/** Polls `check` until it returns a value, or throws naming `what` and the last thing seen. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `fn`, which must reject with a GpumodError of `code` whose message matches `message`; returns the error. */
export async function rejectsWith(fn: () => Promise<unknown>, code: GpumodErrorCode, message?: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a ${code} rejection, but it resolved`);
  assert.ok(isGpumodError(caught, code), `expected ${code}, got ${caught instanceof Error ? `${(caught as { code?: string }).code} ${caught.message}` : String(caught)}`);
  if (message) assert.match(caught.message, message);
  return caught;
}

/**
 * One test file's world: its fixed ports, a fake GPU directory, the real adapters bound to the
 * sandbox manager, and the units it installed (removed by `cleanup`, checked gone by `dispose`).
 */
export class Rig {
  readonly gpuDir = mkdtempSync(join(tmpdir(), 'gpumod-drv-gpu-'));
  readonly systemd: SystemdAdapter = createSystemd(silentLogger, { env: managerEnv() });
  /** The drivers' client: what it records is the protocol under test, observations apart. */
  readonly http = recordingHttp();
  private readonly observeHttp = createHttpClient(silentLogger, { keepAliveMs: 500 });
  readonly ports: ObservePorts;
  private readonly units = new Set<string>();

  constructor(private readonly tcpPorts: readonly number[]) {
    const gpu = createGpu(silentLogger, {
      env: { ...managerEnv(), GPUMOD_NVIDIA_SMI: resolve(REPO, 'test/fakes/bin/nvidia-smi'), FAKE_GPU_DIR: this.gpuDir, FAKE_GPU_TOTAL_MB },
    });
    this.ports = { systemd: this.systemd, gpu, drivers: driverFor, http: this.observeHttp, log: silentLogger, clock: systemClock };
  }

  /** Fails unless every port of this file is free (a leftover from an aborted run, another program). */
  async checkPortsFree(): Promise<void> {
    for (const p of this.tcpPorts) assert.ok(await portFree(p), `port ${p} is in use; the driver tests need it free`);
  }

  /** A driver context with a safety deadline, so a driver that never returns fails the test, not mocha. */
  ctx(signal: AbortSignal = AbortSignal.timeout(20_000)): DriverContext {
    return { http: this.http, log: silentLogger, signal };
  }

  /** The unit running `fake` on `port` against this file's GPU directory, quickly (TIME_SCALE). */
  fakeSpec(fake: FakeName, port: number, args: readonly string[] = [], service: Record<string, string> = {}): UnitSpec {
    assert.ok(this.tcpPorts.includes(port), `port ${port} is not one of this file's ports`);
    return {
      execStart: [process.execPath, resolve(REPO, 'out/test/fakes', `${fake}.js`), '--port', String(port), '--time-scale', String(TIME_SCALE), '--gpu-dir', this.gpuDir, ...args],
      description: `gpumod driver test: ${fake} on ${port}`,
      // Stop fast; a stop-timeout test sets its own.
      service: { TimeoutStopSec: '5', ...service },
    };
  }

  async install(unit: string, spec: UnitSpec): Promise<void> {
    this.units.add(unit);
    await installUnit(unit, spec);
  }

  /** Installs and starts `fake` as `unit` (Type=simple: resolves once the process is forked). */
  async runFake(unit: string, fake: FakeName, port: number, args: readonly string[] = [], service: Record<string, string> = {}): Promise<void> {
    await this.install(unit, this.fakeSpec(fake, port, args, service));
    await this.systemd.start(unit, { timeoutMs: 15_000 });
  }

  /** What gpumod observes for `svc`; with `withGpu` through `observe` (fake nvidia-smi, cgroup attribution). */
  async observe(svc: ServiceConfig, withGpu = false): Promise<ServiceObservation> {
    const signal = AbortSignal.timeout(15_000);
    if (!withGpu) return observeService(svc, this.ports, signal);
    const config: Config = {
      path: 'gpumod.yaml',
      services: new Map([[svc.name, svc]]),
      modes: new Map(),
      budget: { marginMb: 0, gpuTotalMb: 0, hostRamMb: 0 },
      allowedHosts: [],
    };
    const o = await observe(config, this.ports, signal);
    assert.ok(o.gpu.available, `the fake GPU is not visible: ${o.gpu.available ? '' : o.gpu.reason}`);
    const one = o.services.get(svc.name);
    assert.ok(one, `no observation of ${svc.name}`);
    return one;
  }

  /** Observes once and asserts: for states a driver call has already settled. */
  async expectObserved(svc: ServiceConfig, e: Expected): Promise<ServiceObservation> {
    const o = await this.observe(svc, e.vramMb !== undefined);
    const bad = mismatch(o, e);
    assert.ok(!bad, `${svc.name}: ${bad}\n  observed ${describeObservation(o)}`);
    return o;
  }

  /** Observes until it matches (bounded): for states systemd or the server reach on their own. */
  async awaitObserved(svc: ServiceConfig, e: Expected, timeoutMs = 10_000): Promise<ServiceObservation> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const o = await this.observe(svc, e.vramMb !== undefined);
      const bad = mismatch(o, e);
      if (!bad) return o;
      if (Date.now() > deadline) assert.fail(`${svc.name} did not reach the expected observation within ${timeoutMs} ms: ${bad}\n  last observed ${describeObservation(o)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  fakeUrl(port: number, path: string): string {
    return `http://127.0.0.1:${port}${path}`;
  }

  /** Injects a fault at run time (POST /_fake/fault), e.g. { endpoint: '/sleep', kind: '500', times: 1 }. */
  async fault(port: number, fault: { endpoint: string; kind: '500' | 'hang' | 'crash' | 'refuse' | 'engine-dead'; after?: number; times?: number; forMs?: number }): Promise<void> {
    const r = await json('POST', this.fakeUrl(port, '/_fake/fault'), fault);
    assert.equal(r.status, 200, `injecting ${JSON.stringify(fault)}: ${r.body}`);
  }

  async clearFaults(port: number): Promise<void> {
    const r = await json('DELETE', this.fakeUrl(port, '/_fake/fault'));
    assert.equal(r.status, 200, r.body);
  }

  async fakeState<T = Record<string, unknown>>(port: number): Promise<T> {
    const r = await json('GET', this.fakeUrl(port, '/_fake/state'));
    assert.equal(r.status, 200, r.body);
    return r.value as T;
  }

  /** Removes every unit this file installed (stop, reset-failed, delete, reload). */
  async cleanup(): Promise<void> {
    for (const u of this.units) await removeUnit(u);
    this.units.clear();
  }

  /** After the file: units removed, no fake left listening on this file's ports, temp files gone. */
  async dispose(): Promise<void> {
    await this.cleanup();
    await this.http.close();
    await this.observeHttp.close();
    const left = await until(
      'the fakes to exit',
      async () => {
        const procs = fakeProcessesOn(this.tcpPorts);
        return procs.length === 0 ? procs : undefined;
      },
      10_000,
      100,
    ).catch(() => fakeProcessesOn(this.tcpPorts));
    rmSync(this.gpuDir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'fake processes of this file are still running');
  }
}
