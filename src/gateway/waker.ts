// The engine side of the gateway: which services serve requests now, waking the one a request names
// (one wake per service however many requests wait for it), and idle sleep.
import type { Config, ServiceConfig } from '../config/types';
import { currentMode } from '../engine/currentMode';
import { measuredNow } from '../engine/footprints';
import { learnFrom } from '../engine/learn';
import { observe } from '../engine/observe';
import { planOnDemand } from '../engine/onDemand';
import type { EnginePorts } from '../engine/ports';
import { serviceAction, switchMode } from '../engine/switcher';
import { errorMessage, GpumodError, isGpumodError } from '../errors';

/** Why a request cannot be served now: the client gets a 503 with this and Retry-After. */
export class Unavailable extends Error {
  constructor(
    message: string,
    readonly retryAfterS = 5,
  ) {
    super(message);
  }
}

const LOCK_RETRY_MS = 250;

/** What the gateway knows of one service beyond what is observed: for /gpumod/status and the editor. */
export interface DemandView {
  inFlight: number;
  lastRequestAt?: number;
  /** When the idle timer puts it to sleep (ms since the epoch), while one runs. */
  idleSleepAt?: number;
  waking: boolean;
}

/** A switch the gateway began: a wake for a request, or an idle sleep. */
export interface WakerEvent {
  service: string;
  kind: 'wake' | 'idle-sleep';
  phase: 'begin' | 'end';
  ok?: boolean;
  message?: string;
}

export class Waker {
  private readonly busy = new Map<string, number>();
  private readonly lastUsed = new Map<string, number>();
  private readonly waking = new Map<string, Promise<void>>();
  private readonly idleTimers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  /** Hears every change of what `view` reports (a request begun or ended, a timer set, a wake). */
  onChange: () => void = () => undefined;
  /** Hears the switches the gateway begins and ends. */
  onSwitch: (e: WakerEvent) => void = () => undefined;
  private closed = false;
  /** Wakes are the gateway's, not one client's: a wake once begun completes for whoever waits next. */
  private readonly lifetime = new AbortController();
  /** Waiters for the end of any request in flight (a wake waiting for room). */
  private readonly onRequestEnd = new Set<() => void>();

  constructor(
    private readonly config: Config,
    private readonly ports: EnginePorts,
  ) {}

  /** A request for `svc` begins: it counts as in flight until `done` is called. */
  begin(svc: ServiceConfig): () => void {
    this.busy.set(svc.name, (this.busy.get(svc.name) ?? 0) + 1);
    this.lastUsed.set(svc.name, Date.now());
    this.cancelIdle(svc.name);
    this.onChange();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.busy.get(svc.name) ?? 1) - 1;
      if (left > 0) this.busy.set(svc.name, left);
      else this.busy.delete(svc.name);
      this.lastUsed.set(svc.name, Date.now());
      if (left <= 0) this.scheduleIdle(svc);
      const waiting = [...this.onRequestEnd];
      this.onRequestEnd.clear();
      for (const w of waiting) w();
      this.onChange();
    };
  }

  view(name: string): DemandView {
    const idle = this.idleTimers.get(name);
    const last = this.lastUsed.get(name);
    return {
      inFlight: this.inFlight(name),
      ...(last !== undefined ? { lastRequestAt: last } : {}),
      ...(idle ? { idleSleepAt: idle.at } : {}),
      waking: this.waking.has(name),
    };
  }

  inFlight(name: string): number {
    return this.busy.get(name) ?? 0;
  }

  /** Resolves once `svc` is awake (waking it if need be, sharing a wake under way); throws Unavailable. */
  ensureAwake(svc: ServiceConfig): Promise<void> {
    const under = this.waking.get(svc.name);
    if (under) return under;
    const p = this.wake(svc, this.lifetime.signal).finally(() => {
      this.waking.delete(svc.name);
      this.onChange();
    });
    this.waking.set(svc.name, p);
    this.onChange();
    return p;
  }

  private async wake(svc: ServiceConfig, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + Math.max(svc.wakeTimeoutMs, svc.startupTimeoutMs);
    for (;;) {
      const obs = await observe(this.config, this.ports, signal);
      const o = obs.services.get(svc.name);
      if (o?.state === 'running' && o.healthy) return;
      const footprints = await learnFrom(this.config, obs, this.ports.store, this.ports.log);
      const demand = { busy: new Set([...this.busy.keys()].filter((n) => n !== svc.name)), lastUsed: this.lastUsed };
      const planOpts = { measured: measuredNow(footprints, this.config, obs), capabilities: (s: ServiceConfig) => this.ports.drivers(s).capabilities(s) };
      const od = planOnDemand(this.config, obs, svc.name, demand, planOpts);
      if (!od.ok) {
        // Room held by requests in flight frees when they end: wait for that (bounded), then look again.
        const once = planOnDemand(this.config, obs, svc.name, { busy: new Set(), lastUsed: this.lastUsed }, planOpts);
        if (!once.ok || Date.now() > deadline) throw new Unavailable(od.reason);
        await this.busyChanged(deadline, signal);
        continue;
      }
      try {
        const r = await switchMode(od.config, od.mode.name, this.ports, {
          signal,
          owner: `gpumod gateway: a request for ${svc.name}`,
          recordAs: (after, prior) => currentMode(this.config, after, prior?.mode, prior?.idle).mode,
          onPlan: () => this.onSwitch({ service: svc.name, kind: 'wake', phase: 'begin' }),
        }).catch((e: unknown) => {
          if (!isGpumodError(e, 'LOCKED')) this.onSwitch({ service: svc.name, kind: 'wake', phase: 'end', ok: false, message: errorMessage(e) });
          throw e;
        });
        this.onSwitch({ service: svc.name, kind: 'wake', phase: 'end', ok: r.ok, message: r.message });
        if (r.ok) return;
        throw new Unavailable(`${svc.name} could not be woken: ${r.message}`);
      } catch (e) {
        // Another switch holds the machine: wait for it (bounded by the service's own deadline), then look again.
        if (!isGpumodError(e, 'LOCKED') || Date.now() > deadline) throw e instanceof Unavailable ? e : new Unavailable(`${svc.name} could not be woken: ${errorMessage(e)}`);
        await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
        if (signal.aborted) throw new GpumodError('CANCELLED', 'the gateway is stopping');
      }
    }
  }

  /** Resolves when a request in flight ends (or at the deadline). */
  private busyChanged(deadline: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.onRequestEnd.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.onRequestEnd.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private scheduleIdle(svc: ServiceConfig): void {
    if (!svc.idleSleepMs || this.closed || svc.sleep === 'none') return;
    this.cancelIdle(svc.name);
    const timer = setTimeout(() => void this.sleepIfIdle(svc), svc.idleSleepMs);
    timer.unref();
    this.idleTimers.set(svc.name, { timer, at: Date.now() + svc.idleSleepMs });
  }

  private cancelIdle(name: string): void {
    const t = this.idleTimers.get(name);
    if (t) clearTimeout(t.timer);
    this.idleTimers.delete(name);
  }

  /** Idle for idle_sleep_s: put to sleep at its depth (never stopped for idleness); a switch under way defers it. */
  private async sleepIfIdle(svc: ServiceConfig): Promise<void> {
    this.idleTimers.delete(svc.name);
    this.onChange();
    if (this.closed || this.inFlight(svc.name) > 0 || this.waking.has(svc.name)) return;
    try {
      const o = (await observe(this.config, this.ports, this.lifetime.signal)).services.get(svc.name);
      if (o?.state !== 'running') return; // asleep or stopped already (a switch came first): nothing to do
      this.onSwitch({ service: svc.name, kind: 'idle-sleep', phase: 'begin' });
      const r = await serviceAction(this.config, svc.name, 'sleep', this.ports, { owner: `gpumod gateway: ${svc.name} idle`, idle: true });
      this.onSwitch({ service: svc.name, kind: 'idle-sleep', phase: 'end', ok: r.ok, message: r.message });
      if (!r.ok) this.ports.log.warn(`idle sleep of ${svc.name}: ${r.message}`);
      else this.ports.log.info(`${svc.name} idle for ${Math.round((svc.idleSleepMs ?? 0) / 1000)} s: asleep`);
    } catch (e) {
      if (isGpumodError(e, 'LOCKED')) return this.scheduleIdle(svc); // try again a period later
      this.onSwitch({ service: svc.name, kind: 'idle-sleep', phase: 'end', ok: false, message: errorMessage(e) });
      this.ports.log.warn(`idle sleep of ${svc.name}: ${errorMessage(e)}`);
    }
  }

  close(): void {
    this.closed = true;
    this.lifetime.abort();
    for (const t of this.idleTimers.values()) clearTimeout(t.timer);
    this.idleTimers.clear();
  }
}
