import { watch, type FSWatcher } from 'node:fs';
import * as vscode from 'vscode';
import type { Config, ServiceConfig } from '../config/types';
import type { DriverCapabilities } from '../engine/driverPort';
import { currentMode } from '../engine/currentMode';
import type { StepEvent } from '../engine/steps';
import type { Preview, ServiceActionName, ServiceActionResult, SwitchResult } from '../engine/switcher';
import type { Plan, SwitchInProgress, SwitchRecord } from '../engine/types';
import type { Machine } from '../machine';
import { errorMessage } from '../errors';
import type { ConfigSource, ConfigState } from './configSource';
import type { UiState } from './viewModel';
import { IdleBackoff } from './pollBackoff';
import { pidAlive } from '../system/pids';
import { DEFAULT_GATEWAY_PORT } from '../config/types';
import type { GatewayView } from '../gateway/status';
import { GatewayFollower } from './gatewayFollower';
import { core } from './useCore';

/** Poll fast while a switch runs (here or in another window), so every window follows it. */
const SWITCHING_POLL_MS = 500;

/**
 * The window's view of the machine: observes it (lazily, adaptively: faster during a switch, paused
 * while no window is focused), follows the shared state file so every window agrees within a second,
 * and runs switches and service actions through the engine. The UI renders `state`.
 */
export class Controller implements vscode.Disposable {
  private machine: Machine | undefined;
  private current: UiState = { configState: 'loading', drift: [] };
  private readonly emitter = new vscode.EventEmitter<UiState>();
  readonly onDidChange = this.emitter.event;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private stateWatcher: FSWatcher | undefined;
  private gatewayFollower: GatewayFollower | undefined;
  private unfollowGpu: (() => void) | undefined;
  private readonly backoff = new IdleBackoff();
  private focused = vscode.window.state.focused;
  private localSwitch: { from?: string; to: string; step?: string } | undefined;
  private readonly users = new Map<Machine, number>();
  private disposed = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly source: ConfigSource,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      this.emitter,
      source.onDidChange((s) => this.onConfig(s)),
      vscode.window.onDidChangeWindowState((w) => {
        // It also fires when `active` moves (the user pausing, then typing again): no reason to look.
        if (w.focused === this.focused) return;
        this.focused = w.focused;
        this.followGpu();
        this.gatewayFollower?.setActive(w.focused);
        if (w.focused) void this.refresh();
        else this.schedule();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('gpumod.pollIntervalSeconds')) return;
        this.followGpu();
        this.schedule();
      }),
    );
  }

  get state(): UiState {
    return this.current;
  }

  get config(): Config | undefined {
    return this.source.config;
  }

  /** The file's state once its first load has ended (at once after that). */
  configLoaded(): Promise<ConfigState> {
    return this.source.ready();
  }

  get configPath(): string {
    return this.source.path;
  }

  capabilities(svc: ServiceConfig): DriverCapabilities {
    return core().driverFor(svc).capabilities(svc);
  }

  get stateDir(): string | undefined {
    return this.machine?.stateDir;
  }

  private set(patch: Partial<UiState>): void {
    this.current = { ...this.current, ...patch };
    this.emitter.fire(this.current);
  }

  private onConfig(s: ConfigState): void {
    if (s.kind === 'ok') {
      if (this.machine) this.retire(this.machine);
      this.machine = core().createMachine(s.config, this.log);
      this.watchState(this.machine.stateDir);
      this.followGpu();
      this.followGateway(s.config);
      this.set({ configState: 'ok', config: s.config, configProblems: undefined });
      void this.refresh();
    } else if (s.kind !== 'loading') {
      // A broken file keeps the last good config in force; a missing one has nothing to show.
      this.set({ configState: s.kind, config: this.source.config, configProblems: s.kind === 'invalid' ? s.problems.length : undefined });
    }
  }

  /** Marks `machine` in use until the returned function is called: a reload must not close it under a switch. */
  private hold(machine: Machine): () => void {
    this.users.set(machine, (this.users.get(machine) ?? 0) + 1);
    return () => {
      const left = (this.users.get(machine) ?? 1) - 1;
      if (left > 0) return void this.users.set(machine, left);
      this.users.delete(machine);
      if (machine !== this.machine) void machine.close();
    };
  }

  /** Closes a replaced machine now, or when the last operation using it ends. */
  private retire(machine: Machine): void {
    if (!this.users.has(machine)) void machine.close();
  }

  private watchState(dir: string): void {
    this.stateWatcher?.close();
    this.stateWatcher = undefined;
    try {
      this.stateWatcher = watch(dir, (_event, file) => {
        // Followed, the gateway looks on the same change and tells: one look for every window.
        if (file === 'state.json' && !this.gatewayFollower?.connected) void this.refresh();
      });
      this.stateWatcher.on('error', () => undefined);
    } catch {
      // No state dir yet (no switch ever ran): created by the first switch; polling covers until then.
      setTimeout(() => !this.disposed && this.machine?.stateDir === dir && this.watchState(dir), 5000).unref();
    }
  }

  /**
   * A running gateway observes for every window: while this one follows its events, it renders them
   * and does not poll. A config with a `gateway:` section shows the gateway, running or not.
   */
  private followGateway(config: Config): void {
    this.gatewayFollower?.dispose();
    const port = config.gateway?.port ?? DEFAULT_GATEWAY_PORT;
    const url = `http://127.0.0.1:${port}/v1`;
    this.set({ gateway: config.gateway ? { url, running: false, services: new Map() } : undefined });
    this.gatewayFollower = new GatewayFollower(port, config.gateway?.token, {
      onStatus: (g) => void this.fromGateway(config, g),
      onDown: (why) => {
        if (this.disposed || this.source.config !== config) return;
        this.log.debug(`gateway not followed: ${why}`);
        this.set({ gateway: config.gateway ? { url, running: false, services: new Map() } : undefined });
        this.schedule();
      },
    });
    this.gatewayFollower.setActive(vscode.window.state.focused);
  }

  /** A status from the gateway: the window's view of the machine, as if it had observed it itself. */
  private async fromGateway(config: Config, g: GatewayView): Promise<void> {
    const machine = this.machine;
    if (this.disposed || !machine || this.source.config !== config) return;
    const gateway = { url: g.url, running: true, services: new Map(g.services.map((s) => [s.name, s])) };
    const switching = this.switchingNow(g.switching ?? undefined);
    // The learned footprints are a file read (and a write when a figure moved), no process.
    const { measuredNow, learnFrom } = core();
    const measured = measuredNow(await learnFrom(config, g.observation, machine.ports.store, this.log), config, g.observation);
    if (this.disposed || this.source.config !== config) return; // the config was reloaded meanwhile
    // A switch of this window's own is followed by its own looks, not overwritten by a status from before it.
    if (this.localSwitch) return this.set({ gateway });
    this.set({ gateway, observation: g.observation, measured, mode: g.mode ?? undefined, idle: g.idle, drift: switching ? [] : g.drift, switching });
    this.schedule();
  }

  /**
   * While a window is focused, the GPU is followed at the polling interval by one long-lived
   * nvidia-smi (loop mode): a poll reads its latest sample instead of starting two processes.
   */
  private followGpu(): void {
    this.unfollowGpu?.();
    this.unfollowGpu = undefined;
    if (this.disposed || !this.machine || !vscode.window.state.focused) return;
    this.unfollowGpu = this.machine.ports.gpu.follow?.(this.pollMs());
  }

  private pollMs(): number {
    const s = vscode.workspace.getConfiguration('gpumod').get<number>('pollIntervalSeconds') ?? 5;
    return Math.max(1, s) * 1000;
  }

  private interval(): number | undefined {
    if (this.localSwitch || this.current.switching) return SWITCHING_POLL_MS;
    if (!vscode.window.state.focused || this.gatewayFollower?.connected) return undefined;
    return this.pollMs() * this.backoff.factor();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ms = this.interval();
    if (ms === undefined || this.disposed) return;
    this.timer = setTimeout(() => void this.refresh(ms), ms);
  }

  /**
   * Observes now (coalescing concurrent requests into one observation plus at most one more). A
   * periodic look (`gpuMaxAgeMs`) may take the GPU watch's latest sample; any other looks afresh.
   */
  refresh(gpuMaxAgeMs?: number): Promise<void> {
    if (gpuMaxAgeMs === undefined) this.backoff.reset(); // someone asked: back to the base interval
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.observeOnce(gpuMaxAgeMs).finally(() => {
      this.inFlight = undefined;
      const again = this.again;
      this.again = false;
      // Asked meanwhile, the window looks once more, unless it now follows the gateway, which tells.
      if (again && !this.gatewayFollower?.connected) {
        void this.refresh();
      } else {
        this.schedule();
      }
    });
    return this.inFlight;
  }

  /** CPU time (µs) of the extension host during this window's observations: what its polling costs in the host. */
  observeCpuMicros = 0;
  /** The window's own looks at the machine (not counting the gateway's it renders). */
  looks = 0;

  /** The window renders a running gateway's events instead of polling. */
  get followingGateway(): boolean {
    return this.gatewayFollower?.connected ?? false;
  }

  private async observeOnce(gpuMaxAgeMs?: number): Promise<void> {
    const config = this.source.config;
    const machine = this.machine;
    if (!config || !machine) return;
    this.looks++;
    const cpu = process.cpuUsage();
    try {
      const { observe, readJsonFile, asSwitchState, measuredNow, learnFrom } = core();
      const [obs, raw] = await Promise.all([
        observe(config, machine.ports, new AbortController().signal, gpuMaxAgeMs !== undefined ? { gpuMaxAgeMs } : {}),
        readJsonFile(`${machine.stateDir}/state.json`).catch(() => undefined),
      ]);
      const recorded = asSwitchState(raw);
      const cur = currentMode(config, obs, recorded?.mode, recorded?.idle);
      const switching = this.switchingNow(recorded?.switching);
      // A file read and, when a figure moved, an atomic write: no extra process per poll.
      const measured = measuredNow(await learnFrom(config, obs, machine.ports.store, this.log), config, obs);
      this.set({ observation: obs, measured, mode: cur.mode, idle: cur.idle, drift: switching ? [] : cur.drift, switching });
      if (gpuMaxAgeMs !== undefined) this.backoff.seen(this.current);
    } catch (e) {
      this.log.warn(`observe failed: ${errorMessage(e)}`);
    } finally {
      const used = process.cpuUsage(cpu);
      this.observeCpuMicros += used.user + used.system;
    }
  }

  /** The switch under way: this window's own, else another live process's from the state file's marker. */
  private switchingNow(marker: SwitchInProgress | undefined): UiState['switching'] {
    const other = marker && marker.pid !== process.pid && pidAlive(marker) ? marker : undefined;
    return this.localSwitch ?? (other ? { from: other.from, to: other.to, elsewhere: true } : undefined);
  }

  /** The plan for every mode from one observation: the Switch Mode quick pick's previews. */
  async previews(): Promise<Map<string, Preview>> {
    const config = this.source.config;
    const machine = this.machine;
    const out = new Map<string, Preview>();
    if (!config || !machine) return out;
    const { observe, previewPlan } = core();
    const observation = await observe(config, machine.ports, new AbortController().signal);
    for (const mode of config.modes.keys()) out.set(mode, await previewPlan(config, mode, machine.ports, { observation }));
    return out;
  }

  /** What `gpumod status --json` says, observed now: the agent tools' status. */
  statusJson(signal: AbortSignal): Promise<Record<string, unknown>> {
    return this.onMachine(async (config, machine) => (await core().statusReport(config, machine.ports, signal)).json);
  }

  /** The plan of a switch to `mode` from what is observed now; touches nothing. */
  plan(mode: string, signal: AbortSignal): Promise<Plan> {
    return this.onMachine(async (config, machine) => (await core().previewPlan(config, mode, machine.ports, { signal })).plan);
  }

  /** Runs `body` on the config in force and its machine, held so that a reload does not close it meanwhile. */
  private async onMachine<T>(body: (config: Config, machine: Machine) => Promise<T>): Promise<T> {
    const config = this.need();
    const machine = this.machine as Machine;
    const release = this.hold(machine);
    try {
      return await body(config, machine);
    } finally {
      release();
    }
  }

  async switchTo(mode: string, signal: AbortSignal, onStep: (e: StepEvent) => void): Promise<SwitchResult> {
    const config = this.need();
    const machine = this.machine as Machine;
    const release = this.hold(machine);
    this.localSwitch = { from: this.current.mode, to: mode };
    this.set({ switching: this.localSwitch });
    this.schedule();
    try {
      const result = await core().switchMode(config, mode, machine.ports, {
        signal,
        owner: `VS Code window (pid ${process.pid})`,
        onStep: (e) => {
          if (e.kind === 'begin' && this.localSwitch) {
            this.localSwitch = { ...this.localSwitch, step: `${e.action} ${e.service}` };
            this.set({ switching: this.localSwitch });
          }
          onStep(e);
        },
      });
      const answered = result.firstAnswerMs !== undefined ? { firstAnswerMs: result.firstAnswerMs } : {};
      this.set({ lastSwitch: { to: mode, ok: result.ok, totalMs: result.totalMs, at: Date.now(), message: result.message, ...answered } });
      return result;
    } finally {
      release();
      this.localSwitch = undefined;
      this.set({ switching: undefined });
      await this.refresh();
    }
  }

  async serviceAction(name: string, action: ServiceActionName, signal: AbortSignal, onStep: (e: StepEvent) => void): Promise<ServiceActionResult> {
    try {
      return await this.onMachine((config, machine) => core().serviceAction(config, name, action, machine.ports, { signal, onStep, owner: `VS Code window (pid ${process.pid})` }));
    } finally {
      await this.refresh();
    }
  }

  /** The recorded switches and service actions, oldest first (at most `limit`). */
  async history(limit: number): Promise<SwitchRecord[]> {
    return (await this.machine?.ports.store.readHistory(limit)) ?? [];
  }

  async lastRecord(): Promise<SwitchRecord | undefined> {
    const records = (await this.machine?.ports.store.readHistory(50)) ?? [];
    return [...records].reverse().find((r) => r.kind === 'switch');
  }

  async journal(unit: string, lines: number): Promise<string> {
    if (!this.machine) return '';
    return this.machine.systemd.journal(unit, lines);
  }

  private need(): Config {
    const config = this.source.config;
    if (!config || !this.machine) throw new Error('no valid gpumod configuration is loaded');
    return config;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.unfollowGpu?.();
    this.stateWatcher?.close();
    this.gatewayFollower?.dispose();
    void this.machine?.close();
    for (const d of this.disposables) d.dispose();
  }
}
