import type { Config, ServiceConfig } from '../../../src/config/types';
import type { Driver, DriverCapabilities, DriverContext, Probe, SleepDepth } from '../../../src/engine/driverPort';
import { configCapabilities } from '../../../src/engine/planner';
import { shareOn } from '../../../src/engine/budget';
import type { Footprints } from '../../../src/engine/footprints';
import type { EnginePorts, LockRequest, StateStore, SwitchLock } from '../../../src/engine/ports';
import type { SwitchRecord, SwitchState } from '../../../src/engine/types';
import { GpumodError } from '../../../src/errors';
import { silentLogger } from '../../../src/system/logger';
import type { GpuInfo, GpuProcess, GpuSnapshot, HttpClient, ProcessOptions, Systemd, UnitLook, UnitStatus } from '../../../src/engine/machinePorts';
import { FakeClock } from './fakeClock';

/** How long things take for one service, in (virtual) ms. */
export interface Timing {
  /** Process start until serving (vLLM, hooks), or the llama.cpp model load after the router is up. */
  coldMs: number;
  sleepMs: number;
  wakeMs: Partial<Record<SleepDepth, number>>;
  /** `systemctl stop` until the process has exited. */
  stopMs: number;
  /** After the exit, until nvidia-smi shows the memory freed (anchors.md: ~0.2 s after exit). */
  freeLagMs: number;
}

export const DEFAULT_TIMING: Timing = { coldMs: 10_000, sleepMs: 100, wakeMs: { l1: 500, l2: 1500, router: 20_000, hook: 2000 }, stopMs: 800, freeLagMs: 200 };

export type FakeState = 'running' | 'stopped' | 'failed' | SleepDepth;

type Op = 'sleep' | 'wake' | 'start' | 'stop' | 'restart' | 'awaitReady' | 'ready' | 'probe';
export type FaultKind = 'error' | 'hang' | 'unhealthy';

interface Svc {
  cfg: ServiceConfig;
  timing: Timing;
  active: 'active' | 'inactive' | 'failed' | 'deactivating';
  /** What the server would say: awake, asleep (depth), loading until readyAt, failed. */
  model: 'awake' | 'asleep' | 'loading' | 'down';
  depth?: SleepDepth;
  readyAt?: number;
  vram: number;
  /** A drop of VRAM that nvidia-smi shows only from `at`; `pid`: the exited process listed until then (in no unit). */
  pending?: { at: number; to: number; pid?: number };
  healthy: boolean;
  pid: number;
  /** Woken while in `wakeDrifts`: answers differ from a fresh start's until the process restarts. */
  drifted?: boolean;
  /** What the server really holds, where it differs from the config's declarations. */
  actual: Actual;
  /** The unit's ExecStart as `systemctl show` parses it (a change resets learned footprints). */
  execStart: string;
}

/** Memory a fake server really holds: VRAM awake, VRAM asleep (any depth), host RAM asleep. */
export interface Actual {
  vram?: number;
  residue?: number;
  ram?: number;
}

export interface Call {
  op: Op | 'show' | 'showMany' | 'snapshot' | 'resetFailed';
  /** The service acted on ('' for the GPU and for a batch). */
  service: string;
  t: number;
  /** The units of a showMany, in the order asked. */
  units?: string[];
}

/** Operations that change the machine (a no-op switch must make none). */
export const MUTATING: Call['op'][] = ['sleep', 'wake', 'start', 'stop', 'restart', 'awaitReady', 'ready', 'resetFailed'];

/**
 * An in-memory workstation: systemd user units, servers that sleep and wake with the profile's
 * latencies, a GPU whose memory figures lag a stop like nvidia-smi's, a state store and a lock.
 */
export class FakeMachine {
  readonly clock = new FakeClock();
  readonly calls: Call[] = [];
  /** The GPU watch: the periods asked for, and how many followers are still on. */
  readonly follows: number[] = [];
  following = 0;
  readonly services = new Map<string, Svc>();
  readonly totals = new Map<number, number>();
  readonly foreign: { gpu: number; mb: number; pid: number }[] = [];
  gpuVisible = true;
  /** nvidia-smi's own latency (anchors.md: 28 ms). */
  gpuQueryMs = 28;
  private faults = new Map<string, FaultKind>();
  /** Probes that take this long to answer (a busy server's /is_sleeping), per service. */
  readonly probeDelayMs = new Map<string, number>();
  /** Services whose sleep answers as done but frees nothing (vLLM without --enable-sleep-mode). */
  readonly sleepFreesNothing = new Set<string>();
  /** Services whose wake corrupts their output (answers differ until a restart). */
  readonly wakeDrifts = new Set<string>();
  /** No user manager to ask: every `systemctl show` fails. */
  systemdDown = false;
  readonly store = new MemoryStore();
  readonly lock = new MemoryLock();
  private nextPid = 1000;

  constructor(
    readonly config: Config,
    totalsMb: number | Record<number, number>,
    timings: Record<string, Partial<Timing>> = {},
  ) {
    if (typeof totalsMb === 'number') this.totals.set(0, totalsMb);
    else for (const [g, t] of Object.entries(totalsMb)) this.totals.set(Number(g), t);
    for (const cfg of config.services.values()) {
      this.services.set(cfg.name, {
        cfg,
        timing: { ...DEFAULT_TIMING, ...timings[cfg.name], wakeMs: { ...DEFAULT_TIMING.wakeMs, ...timings[cfg.name]?.wakeMs } },
        active: 'inactive',
        model: 'down',
        vram: 0,
        healthy: false,
        pid: 0,
        actual: {},
        execStart: `/usr/bin/${cfg.name} --port ${cfg.port}`,
      });
    }
  }

  /** Puts services in a state at once, as if they had been there for a while. */
  set(states: Record<string, FakeState>): this {
    for (const [name, st] of Object.entries(states)) {
      const s = this.svc(name);
      s.pending = undefined;
      s.readyAt = undefined;
      if (st === 'stopped' || st === 'failed') {
        Object.assign(s, { active: st === 'failed' ? 'failed' : 'inactive', model: 'down', depth: undefined, vram: 0, healthy: false, pid: 0 });
      } else if (st === 'running') {
        Object.assign(s, { active: 'active', model: 'awake', depth: undefined, vram: awakeMb(s), healthy: true, pid: this.nextPid++ });
      } else {
        Object.assign(s, { active: 'active', model: 'asleep', depth: st, vram: residueMb(s), healthy: true, pid: this.nextPid++ });
      }
    }
    return this;
  }

  /** The service really holds these figures from its next state change on (a drifted declaration). */
  holds(name: string, actual: Actual): this {
    this.svc(name).actual = { ...actual };
    return this;
  }

  addForeign(gpu: number, mb: number): void {
    this.foreign.push({ gpu, mb, pid: this.nextPid++ });
  }

  /** The next `op` on `service` fails (error), never returns (hang, ignoring its signal), or leaves it unhealthy. */
  fail(service: string, op: Op, kind: FaultKind = 'error'): void {
    this.faults.set(`${service}:${op}`, kind);
  }

  svc(name: string): Svc {
    const s = this.services.get(name);
    if (!s) throw new Error(`no fake service ${name}`);
    return s;
  }

  /** The state a test asserts on: running / stopped / failed / a sleep depth / loading. */
  stateOf(name: string): string {
    const s = this.svc(name);
    this.settle(s);
    if (s.active === 'failed') return 'failed';
    if (s.active !== 'active') return 'stopped';
    if (s.model === 'asleep') return s.depth ?? 'asleep';
    return s.model === 'awake' ? 'running' : s.model;
  }

  mutations(): Call[] {
    return this.calls.filter((c) => MUTATING.includes(c.op));
  }

  ports(): EnginePorts {
    return {
      systemd: this.systemd,
      gpu: {
        snapshot: (opts) => this.snapshot(opts),
        follow: (periodMs) => {
          this.follows.push(periodMs);
          this.following++;
          let done = false;
          return () => {
            if (!done) this.following--;
            done = true;
          };
        },
      },
      drivers: (svc) => this.driver(svc),
      http: unusedHttp,
      log: silentLogger,
      clock: this.clock,
      store: this.store,
      lock: this.lock,
      pid: 4242,
    };
  }

  private record(op: Call['op'], service: string, units?: string[]): void {
    this.calls.push({ op, service, t: this.clock.now(), ...(units ? { units } : {}) });
  }

  /** Time-driven transitions: a starting server becomes ready, freed memory shows. */
  private settle(s: Svc): void {
    const now = this.clock.now();
    if (s.model === 'loading' && s.readyAt !== undefined && now >= s.readyAt) {
      s.model = 'awake';
      s.healthy = true;
      s.readyAt = undefined;
    }
    if (s.pending && now >= s.pending.at) {
      s.vram = s.pending.to;
      s.pending = undefined;
    }
  }

  /** Consults the fault table for (service, op); hangs or throws as configured. */
  private async fault(svc: Svc, op: Op): Promise<FaultKind | undefined> {
    const key = `${svc.cfg.name}:${op}`;
    const kind = this.faults.get(key);
    if (!kind) return undefined;
    this.faults.delete(key);
    if (kind === 'hang') await new Promise<never>(() => undefined);
    if (kind === 'error') throw new GpumodError(op === 'start' ? 'PROCESS_FAILED' : 'HTTP_ERROR', `${svc.cfg.name}: injected ${op} failure`);
    return kind;
  }

  private byUnit(unit: string): Svc {
    const s = [...this.services.values()].find((x) => x.cfg.unit === unit);
    if (!s) throw new Error(`no fake unit ${unit}`);
    return s;
  }

  /** What `systemctl show` says of the unit now (no call recorded: show and showMany record theirs). */
  private unitStatus(unit: string): UnitStatus {
    const s = this.byUnit(unit);
    if (this.systemdDown) throw new GpumodError('PROCESS_FAILED', 'systemctl --user show exited 1: Failed to connect to bus: No medium found');
    this.settle(s);
    return {
      unit,
      loadState: 'loaded',
      activeState: s.active,
      subState: s.active === 'active' ? 'running' : s.active === 'failed' ? 'failed' : s.active === 'deactivating' ? 'stop-sigterm' : 'dead',
      mainPid: s.pid,
      result: s.active === 'failed' ? 'exit-code' : 'success',
      execMainStatus: s.active === 'failed' ? 1 : 0,
      controlGroup: `/user.slice/${unit}`,
      nRestarts: 0,
      stateChangeUs: 0,
      execStart: s.execStart,
    };
  }

  private readonly systemd: Systemd = {
    show: async (unit: string): Promise<UnitStatus> => {
      this.record('show', this.byUnit(unit).cfg.name);
      return this.unitStatus(unit);
    },
    showMany: async (units: readonly string[]): Promise<UnitLook[]> => {
      this.record('showMany', '', [...units]);
      return units.map((u): UnitLook => {
        try {
          return { status: 'fulfilled', value: this.unitStatus(u) };
        } catch (reason) {
          return { status: 'rejected', reason };
        }
      });
    },
    start: async (unit: string, opts?: ProcessOptions): Promise<void> => {
      const s = this.byUnit(unit);
      this.record('start', s.cfg.name);
      await this.fault(s, 'start');
      this.settle(s);
      if (s.active === 'active') return;
      s.drifted = false;
      await this.clock.sleep(20, opts?.signal);
      s.active = 'active';
      s.pid = this.nextPid++;
      if (s.cfg.driver === 'llamacpp') {
        // The router comes up with no model loaded; awaitReady loads it.
        Object.assign(s, { model: 'asleep', depth: 'router', vram: residueMb(s), healthy: true });
      } else {
        Object.assign(s, { model: 'loading', readyAt: this.clock.now() + s.timing.coldMs, vram: awakeMb(s), healthy: false });
      }
    },
    stop: async (unit: string, opts?: ProcessOptions): Promise<void> => {
      const s = this.byUnit(unit);
      this.record('stop', s.cfg.name);
      await this.fault(s, 'stop');
      if (s.active === 'inactive') return;
      s.active = 'deactivating';
      await this.clock.sleep(s.timing.stopMs, opts?.signal);
      const held = s.vram;
      const pid = s.pid;
      Object.assign(s, { active: 'inactive', model: 'down', depth: undefined, healthy: false, pid: 0, readyAt: undefined });
      s.vram = held;
      s.pending = { at: this.clock.now() + s.timing.freeLagMs, to: 0, pid };
    },
    restart: async (unit: string, opts?: ProcessOptions): Promise<void> => {
      const s = this.byUnit(unit);
      this.record('restart', s.cfg.name);
      await this.systemd.stop(unit, opts);
      await this.systemd.start(unit, opts);
    },
    isActive: async (unit: string) => this.byUnit(unit).active,
    resetFailed: async (unit: string): Promise<void> => {
      const s = this.byUnit(unit);
      this.record('resetFailed', s.cfg.name);
      if (s.active === 'failed') s.active = 'inactive';
    },
    journal: async () => '',
    pids: async (status) => (status.mainPid ? [status.mainPid] : []),
    rssMb: async (status) => {
      const s = this.byUnit(status.unit);
      return s.model === 'asleep' ? (s.actual.ram ?? s.cfg.sleepRamMb) : 0;
    },
  };

  private async snapshot(opts?: ProcessOptions): Promise<GpuSnapshot> {
    this.record('snapshot', '');
    if (!this.gpuVisible) return { available: false, reason: 'nvidia-smi not found' };
    await this.clock.sleep(this.gpuQueryMs, opts?.signal);
    const gpus: GpuInfo[] = [...this.totals].map(([index, total]) => {
      const processes: GpuProcess[] = [...this.services.values()]
        .filter((s) => s.cfg.gpus.includes(index))
        .map((s) => (this.settle(s), s))
        .filter((s) => s.vram > 0)
        // A server on several cards has a worker per card, each holding its even share.
        .map((s) => ({ s, mb: shareOn(s.cfg, index, s.vram), worker: s.cfg.gpus.indexOf(index) * 100_000 }))
        .map(({ s, mb, worker }) => (s.pid === 0 && s.pending?.pid ? { pid: s.pending.pid + worker, usedMb: mb, unit: undefined } : { pid: (s.pid || this.nextPid++) + worker, usedMb: mb, unit: s.cfg.unit }));
      processes.push(...this.foreign.filter((f) => f.gpu === index).map((f) => ({ pid: f.pid, usedMb: f.mb, unit: undefined })));
      const used = processes.reduce((sum, p) => sum + (p.usedMb ?? 0), 0);
      return { index, uuid: `GPU-${index}`, name: 'Fake RTX', totalMb: total, usedMb: used, freeMb: total - used, processes };
    });
    return { available: true, gpus, ms: this.gpuQueryMs };
  }

  private driver(cfg: ServiceConfig): Driver {
    const m = this;
    const s = this.svc(cfg.name);
    return {
      kind: cfg.driver,
      capabilities: (svc): DriverCapabilities => configCapabilities(svc),
      async probe(_svc, ctx: DriverContext): Promise<Probe> {
        m.record('probe', cfg.name);
        const delay = m.probeDelayMs.get(cfg.name);
        if (delay) await m.clock.sleep(delay, ctx.signal);
        m.settle(s);
        if (s.active !== 'active') return { state: 'down', healthy: false };
        if (s.model === 'asleep') return { state: 'asleep', sleep: s.depth, healthy: true };
        if (s.model === 'loading') return { state: 'loading', healthy: false };
        if (s.model === 'down') return { state: 'down', healthy: false };
        return { state: 'awake', healthy: s.healthy };
      },
      async sleep(_svc, depth, ctx: DriverContext): Promise<void> {
        m.record('sleep', cfg.name);
        await m.fault(s, 'sleep');
        m.settle(s);
        if (s.active !== 'active') throw new GpumodError('HTTP_UNREACHABLE', `${cfg.name} is not running`);
        await m.clock.sleep(s.timing.sleepMs, ctx.signal);
        Object.assign(s, { model: 'asleep', depth });
        // A process that frees memory and stays alive shows it at the first poll (anchors.md: 23-29 ms).
        if (!m.sleepFreesNothing.has(cfg.name)) s.pending = { at: m.clock.now() + 25, to: residueMb(s) };
      },
      async wake(_svc, ctx: DriverContext): Promise<void> {
        m.record('wake', cfg.name);
        const kind = await m.fault(s, 'wake');
        m.settle(s);
        if (s.active !== 'active') throw new GpumodError('HTTP_UNREACHABLE', `${cfg.name} is not running`);
        if (s.model === 'awake') return;
        await m.clock.sleep(s.timing.wakeMs[s.depth ?? 'l1'] ?? 500, ctx.signal);
        Object.assign(s, { model: 'awake', depth: undefined, vram: awakeMb(s), pending: undefined, healthy: kind !== 'unhealthy', drifted: m.wakeDrifts.has(cfg.name) });
      },
      async awaitReady(_svc, ctx: DriverContext): Promise<void> {
        m.record('awaitReady', cfg.name);
        await m.fault(s, 'awaitReady');
        m.settle(s);
        if (cfg.driver === 'llamacpp' && s.model === 'asleep') {
          await m.clock.sleep(s.timing.coldMs, ctx.signal);
          Object.assign(s, { model: 'awake', depth: undefined, vram: awakeMb(s), healthy: true });
          return;
        }
        if (s.readyAt !== undefined) await m.clock.sleep(s.readyAt - m.clock.now(), ctx.signal);
        m.settle(s);
        if (s.model !== 'awake') throw new GpumodError('DEADLINE', `${cfg.name} never became ready`);
      },
      async readiness(): Promise<string | undefined> {
        m.record('ready', cfg.name);
        await m.fault(s, 'ready');
        return s.drifted ? `Hello form ${cfg.name}!` : `Hello from ${cfg.name}.`;
      },
    };
  }
}

const awakeMb = (s: Svc): number => s.actual.vram ?? s.cfg.vramMb;
const residueMb = (s: Svc): number => s.actual.residue ?? s.cfg.sleepVramMb;

const unusedHttp: HttpClient = {
  request: async () => {
    throw new Error('the engine must not call HTTP itself: drivers do');
  },
};

export class MemoryStore implements StateStore {
  state: SwitchState | undefined;
  readonly writes: SwitchState[] = [];
  readonly history: SwitchRecord[] = [];
  footprints: Footprints = {};
  footprintWrites = 0;

  async readState(): Promise<SwitchState | undefined> {
    return this.state && structuredClone(this.state);
  }
  async writeState(s: SwitchState): Promise<void> {
    this.state = structuredClone(s);
    this.writes.push(this.state);
  }
  async appendHistory(rec: SwitchRecord): Promise<void> {
    this.history.push(structuredClone(rec));
  }
  async readHistory(limit: number): Promise<SwitchRecord[]> {
    return this.history.slice(-limit);
  }
  async readFootprints(): Promise<Footprints> {
    return structuredClone(this.footprints);
  }
  async writeFootprints(f: Footprints): Promise<void> {
    this.footprints = structuredClone(f);
    this.footprintWrites++;
  }
}

/** The lock file's behaviour in memory: one holder; others get LOCKED naming it. */
export class MemoryLock implements SwitchLock {
  holder: string | undefined;
  acquisitions = 0;

  async acquire(owner: LockRequest): Promise<() => Promise<void>> {
    if (this.holder) throw new GpumodError('LOCKED', `another switch is in progress: ${this.holder}`);
    this.holder = owner.target ? `${owner.command} (→ ${owner.target})` : owner.command;
    this.acquisitions++;
    return async () => {
      this.holder = undefined;
    };
  }
}
