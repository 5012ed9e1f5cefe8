// The engine side of the gateway: which services serve requests now, waking the one a request names
// (one wake per service however many requests wait for it), and idle sleep.
import type { Config, ServiceConfig } from '../config/types';
import { currentMode } from '../engine/currentMode';
import { observe } from '../engine/observe';
import { switchOnDemand, takenBy, type OnDemandOutcome } from '../engine/onDemandSwitch';
import type { EnginePorts } from '../engine/ports';
import { serviceAction } from '../engine/switcher';
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

/**
 * What the gateway checks, synchronously, before trusting that a model is still awake: whether anyone
 * holds the machine's lock, and a stamp of state.json (every switch and action rewrites it).
 */
export interface MachineFiles {
  lockHeld(): boolean;
  stateStamp(): number | undefined;
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
  /** Requests that arrived for a service and are not served yet (waiting for a wake, or for a switch to end). */
  private readonly wanted = new Map<string, number>();
  private readonly lastUsed = new Map<string, number>();
  private readonly waking = new Map<string, Promise<void>>();
  private readonly idleTimers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  /**
   * Services seen awake and healthy since the last change to the machine: a request for one is
   * forwarded at once, with no look at the machine. Any switch (anyone's: the state file changes) or
   * a refused connection forgets them; the next request looks again.
   */
  private readonly known = new Set<string>();
  /**
   * The gateway's switches under way or waiting for room, by the service each wakes: the services
   * each will put to sleep or stop. A request for one of those waits for that switch to end, so a
   * service is never put to sleep with a request in flight, and a wake waiting for a busy service to
   * drain is not starved by new requests for it.
   */
  private readonly taking = new Map<string, { services: ReadonlySet<string>; done: Promise<void> }>();
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
    private readonly files: MachineFiles = { lockHeld: () => false, stateStamp: () => undefined },
  ) {}

  /** The machine changed under the gateway (a switch by anyone, a refused connection): look before trusting. */
  forget(): void {
    this.known.clear();
  }

  /** state.json's stamp when what is known awake was last looked at (or written by the gateway's own switch). */
  private stamp: number | undefined;

  /** What is known awake is still what a look would find: no one else holds the lock, and state.json is as it was. */
  private trusted(name: string): boolean {
    if (!this.known.has(name)) return false;
    // Another process switching now (the gateway's own switches hold the lock too, and are accounted for by `taking`).
    const ownSwitch = this.waking.size > 0 || [...this.taking.keys()].some((k) => k.startsWith('idle: '));
    if (!ownSwitch && this.files.lockHeld()) return false;
    if (this.files.stateStamp() === this.stamp) return true;
    // Someone else switched or acted since: look before trusting anything.
    this.forget();
    return false;
  }

  /** After a look or a switch of the gateway's own: what it found is what state.json now goes with. */
  private looked(): void {
    this.stamp = this.files.stateStamp();
  }

  /**
   * A request for `svc` arrived: resolves once it may be forwarded, with the function that ends it
   * (it counts as in flight until then). Wakes `svc` if need be; throws Unavailable.
   */
  serve(svc: ServiceConfig): Promise<() => void> | (() => void) {
    // The common case, with no await on the way: awake, and nothing about to take it away.
    if (!this.holdOn(svc.name) && this.trusted(svc.name)) {
      this.lastUsed.set(svc.name, Date.now());
      this.cancelIdle(svc.name);
      return this.begin(svc);
    }
    return this.serveSlowly(svc);
  }

  private async serveSlowly(svc: ServiceConfig): Promise<() => void> {
    const name = svc.name;
    this.count(this.wanted, name, 1);
    this.lastUsed.set(name, Date.now());
    this.cancelIdle(name);
    try {
      for (;;) {
        const hold = this.holdOn(name);
        if (hold) {
          await hold;
          continue;
        }
        // Checked and counted in one go: a plan made from now on sees it in flight.
        if (this.trusted(name)) return this.begin(svc);
        await this.ensureAwake(svc);
      }
    } finally {
      this.count(this.wanted, name, -1);
      if (this.inFlight(name) === 0 && !this.wanted.has(name)) this.scheduleIdle(svc);
    }
  }

  /** A switch of the gateway's that takes `name` away, under way or waiting: resolves when it ends. */
  private holdOn(name: string): Promise<void> | undefined {
    for (const t of this.taking.values()) if (t.services.has(name)) return t.done.catch(() => undefined);
    return undefined;
  }

  private count(map: Map<string, number>, name: string, by: number): number {
    const n = (map.get(name) ?? 0) + by;
    if (n > 0) map.set(name, n);
    else map.delete(name);
    return n;
  }

  private begin(svc: ServiceConfig): () => void {
    this.count(this.busy, svc.name, 1);
    this.onChange();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = this.count(this.busy, svc.name, -1);
      this.lastUsed.set(svc.name, Date.now());
      if (left <= 0 && !this.wanted.has(svc.name)) this.scheduleIdle(svc);
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
  private ensureAwake(svc: ServiceConfig): Promise<void> {
    const under = this.waking.get(svc.name);
    if (under) return under;
    const p = this.wake(svc, this.lifetime.signal).finally(() => {
      this.waking.delete(svc.name);
      this.taking.delete(svc.name);
      this.onChange();
    });
    this.waking.set(svc.name, p);
    this.onChange();
    return p;
  }

  /** Marks `services` as being taken away by the wake of `svc` until that wake ends. */
  private take(svc: string, services: Iterable<string>): void {
    const set = new Set(services);
    for (const n of set) this.known.delete(n);
    this.taking.set(svc, { services: set, done: this.waking.get(svc) ?? Promise.resolve() });
  }

  private async wake(svc: ServiceConfig, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + Math.max(svc.wakeTimeoutMs, svc.startupTimeoutMs);
    await Promise.resolve(); // `waking` holds this wake before `take` refers to it
    for (;;) {
      let out: OnDemandOutcome;
      let begun = false;
      try {
        out = await switchOnDemand(this.config, svc, this.ports, {
          signal,
          owner: `gpumod gateway: a request for ${svc.name}`,
          recordAs: (after, prior) => currentMode(this.config, after, prior?.mode, prior?.idle).mode,
          demand: () => ({ busy: new Set(this.busy.keys()), lastUsed: this.lastUsed }),
          // From the plan on (no await in between), requests for what it puts away wait for it.
          onPlanned: (plan) => {
            this.take(svc.name, takenBy(plan));
            begun = true;
            this.onSwitch({ service: svc.name, kind: 'wake', phase: 'begin' });
          },
        });
      } catch (e) {
        if (begun) this.onSwitch({ service: svc.name, kind: 'wake', phase: 'end', ok: false, message: errorMessage(e) });
        // Another switch holds the machine: wait for it (bounded by the service's own deadline), then look again.
        if (!isGpumodError(e, 'LOCKED') || Date.now() > deadline) throw new Unavailable(`${svc.name} could not be woken: ${errorMessage(e)}`);
        await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
        if (signal.aborted) throw new GpumodError('CANCELLED', 'the gateway is stopping');
        continue;
      }
      // What is awake in that look is known until the next change: requests for those need no look.
      const after = out.kind === 'switched' ? (out.result.observation ?? out.observation) : out.observation;
      this.forget();
      for (const o of after.services.values()) if (o.state === 'running' && o.healthy && !this.holdOn(o.name)) this.known.add(o.name);
      this.looked();
      if (out.kind === 'awake') return;
      if (out.kind === 'refused' || (out.kind === 'wait' && Date.now() > deadline)) throw new Unavailable(out.reason);
      if (out.kind === 'wait') {
        // Room held by requests in flight frees when they end: new requests for those services wait
        // meanwhile (else a steady stream of them would starve this wake), then look again (bounded).
        this.take(svc.name, out.taken);
        await this.busyChanged(deadline, signal);
        continue;
      }
      const r = out.result;
      this.onSwitch({ service: svc.name, kind: 'wake', phase: 'end', ok: r.ok, message: r.message });
      if (r.ok) {
        this.known.add(svc.name);
        return;
      }
      throw new Unavailable(`${svc.name} could not be woken: ${r.message}`);
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
    if (this.closed || this.inFlight(svc.name) > 0 || this.wanted.has(svc.name) || this.waking.has(svc.name) || this.holdOn(svc.name)) return;
    // Requests arriving from now on wait for the sleep to end (and then wake it): none is forwarded into it.
    let ended: () => void = () => undefined;
    const key = `idle: ${svc.name}`;
    this.taking.set(key, { services: new Set([svc.name]), done: new Promise<void>((r) => (ended = r)) });
    this.known.delete(svc.name);
    try {
      const o = (await observe(this.config, this.ports, this.lifetime.signal)).services.get(svc.name);
      if (o?.state !== 'running') return; // asleep or stopped already (a switch came first): nothing to do
      this.onSwitch({ service: svc.name, kind: 'idle-sleep', phase: 'begin' });
      const r = await serviceAction(this.config, svc.name, 'sleep', this.ports, { owner: `gpumod gateway: ${svc.name} idle`, idle: true });
      this.looked(); // its own write: what else is known awake still holds
      this.onSwitch({ service: svc.name, kind: 'idle-sleep', phase: 'end', ok: r.ok, message: r.message });
      if (!r.ok) this.ports.log.warn(`idle sleep of ${svc.name}: ${r.message}`);
      else this.ports.log.info(`${svc.name} idle for ${Math.round((svc.idleSleepMs ?? 0) / 1000)} s: asleep`);
    } catch (e) {
      if (isGpumodError(e, 'LOCKED')) {
        this.scheduleIdle(svc); // try again a period later
        return this.onChange();
      }
      this.onSwitch({ service: svc.name, kind: 'idle-sleep', phase: 'end', ok: false, message: errorMessage(e) });
      this.ports.log.warn(`idle sleep of ${svc.name}: ${errorMessage(e)}`);
    } finally {
      this.taking.delete(key);
      ended();
    }
  }

  close(): void {
    this.closed = true;
    this.lifetime.abort();
    for (const t of this.idleTimers.values()) clearTimeout(t.timer);
    this.idleTimers.clear();
  }
}
