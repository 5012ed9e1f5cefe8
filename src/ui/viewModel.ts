import type { Config, ServiceConfig } from '../config/types';
import type { SleepDepth } from '../engine/driverPort';
import { formatMs } from '../engine/deadline';
import type { Measured } from '../engine/footprints';
import { figuresText, heldBy, heldText } from '../engine/heldMemory';
import type { Observation, ServiceObservation } from '../engine/types';
import { modeLabel } from '../engine/currentMode';
import type { GatewayServiceStatus } from '../gateway/status';

/**
 * What the window shows, as plain data, and the pure projections of it that the status bar and the
 * services view render. Nothing here touches VS Code, so every projection is unit-tested.
 */
export interface UiState {
  configState: 'loading' | 'missing' | 'invalid' | 'ok';
  /** The config in force: the last valid one, also while the file on disk has problems. */
  config?: Config;
  /** While the file on disk does not load: how many problems it has (shown as diagnostics on it). */
  configProblems?: number;
  observation?: Observation;
  /** The learned footprints that apply to the observed units, by service. */
  measured?: ReadonlyMap<string, Measured>;
  mode?: string;
  /** The mode's services asleep for idleness (the gateway's idle sleep). */
  idle?: string[];
  drift: string[];
  /** The gateway, when the config has one or one answers: what only it knows of each service. */
  gateway?: GatewayUi;
  /** A switch under way, in this window or another (from the shared state file). */
  switching?: { from?: string; to: string; step?: string; elsewhere?: boolean };
  lastSwitch?: { to: string; ok: boolean; totalMs: number; at: number; message: string; firstAnswerMs?: number };
}

export interface GatewayUi {
  url: string;
  running: boolean;
  services: ReadonlyMap<string, GatewayServiceStatus>;
}

export interface StatusBarModel {
  text: string;
  tooltip: string;
  /** Undefined while switching: the click is disabled. */
  command?: string;
  warning: boolean;
}

const gb = (n: number): string => (n / 1000).toFixed(1);

/**
 * Used/total per GPU in GB, e.g. "23.1/32.6 GB", or each card's for several ("21.3/24.6 · 18.0/24.6 GB":
 * a sum would hide the one card that is full); undefined without a GPU.
 */
export function vramSummary(obs: Observation | undefined): string | undefined {
  if (!obs?.gpu.available || obs.gpu.gpus.length === 0) return undefined;
  // The same units as the config's *_mb figures (nvidia-smi's MiB), so the numbers add up.
  return `${obs.gpu.gpus.map((g) => `${g.usedMb === undefined ? '?' : gb(g.usedMb)}/${g.totalMb === undefined ? '?' : gb(g.totalMb)}`).join(' · ')} GB`;
}

/**
 * The VRAM a service holds, when it holds any (a stopped service's "0 MB" is noise): as observed, or
 * without a GPU in view, the figure gpumod measured or the config declares, marked as such.
 */
export function heldVram(svc: ServiceConfig, o: ServiceObservation | undefined, measured?: Measured): string | undefined {
  const h = heldBy(svc, o, measured);
  return h ? heldText(h) : undefined;
}

export function stateText(o: ServiceObservation | undefined): string {
  if (!o) return 'not observed';
  if (o.state === 'sleeping') return `asleep ${depthText(o.sleep)}`.trim();
  if (o.state === 'running' && !o.healthy) return 'running, unhealthy';
  return o.state;
}

export function depthText(d: SleepDepth | undefined): string {
  switch (d) {
    case 'l1':
      return 'L1';
    case 'l2':
      return 'L2';
    case 'router':
      return '(model unloaded)';
    case 'hook':
      return '(unloaded)';
    case 'idle':
      return '(idle, in memory)';
    default:
      return '';
  }
}

/** When an idle timer fires, as a time of day: a rendered line is not redrawn every second, so it must not count down. */
function clockTime(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/**
 * What the gateway adds to a service's line: requests in flight, a wake for one, the idle timer, or
 * that it sleeps for idleness (and the next request wakes it). Undefined when it has nothing to say.
 */
export function demandText(name: string, state: UiState): string | undefined {
  const d = state.gateway?.running ? state.gateway.services.get(name) : undefined;
  const parts: string[] = [];
  if (d?.waking) parts.push('waking for a request');
  if (d && d.inFlight > 0) parts.push(`${d.inFlight} request${d.inFlight === 1 ? '' : 's'}`);
  if (d?.idleSleepAt !== undefined && d.inFlight === 0) parts.push(`idle, sleeps at ${clockTime(d.idleSleepAt)}`);
  if (state.idle?.includes(name)) parts.push('idle: the next request wakes it');
  return parts.length ? parts.join(', ') : undefined;
}

/** The gateway's line in the tooltip and its row in the services view. */
export function gatewayText(g: GatewayUi): string {
  return g.running ? `${g.url} (running)` : `${g.url} (not running)`;
}

function ago(ms: number): string {
  if (ms < 60_000) return 'just now';
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${Math.round(ms / 3_600_000)} h ago`;
}

function escapeMd(s: string): string {
  return s.replace(/([|\\`*_[\]])/g, '\\$1');
}

/** A markdown table of the services, their states and VRAM: the status bar's tooltip. */
export function servicesTable(state: UiState, now: number): string {
  const lines: string[] = [];
  const cfg = state.config;
  if (!cfg && state.configState === 'loading') return 'gpumod is reading its configuration…';
  if (!cfg && state.configState === 'invalid') return `${problemsText(state)}, and no valid configuration has been loaded yet: click to see them.`;
  if (!cfg) return 'No gpumod configuration yet: click to create one.';
  // An edit that does not load changes nothing: say so above the state it leaves in force.
  if (state.configState === 'invalid') lines.push(`$(warning) ${problemsText(state)}: the last valid configuration stays in force.`, '');
  const modeLine = state.switching
    ? `**Switching** ${escapeMd(state.switching.from ?? '(no mode)')} → ${escapeMd(state.switching.to)}${state.switching.step ? `: ${escapeMd(state.switching.step)}` : ''}`
    : `**Mode** ${state.mode ? escapeMd(modeLabel(state.mode, state.idle) ?? '') : '(none)'}`;
  lines.push(modeLine, '');
  for (const d of state.drift) lines.push(`$(warning) ${escapeMd(d)}`, '');
  lines.push('| Service | State | VRAM |', '|---|---|--:|');
  for (const svc of cfg.services.values()) {
    const o = state.observation?.services.get(svc.name);
    const demand = demandText(svc.name, state);
    lines.push(`| ${escapeMd(svc.name)} | ${escapeMd(stateText(o))}${demand ? ` · ${escapeMd(demand)}` : ''} | ${heldVram(svc, o, state.measured?.get(svc.name)) ?? '–'} |`);
  }
  const obs = state.observation;
  lines.push('');
  if (obs && !obs.gpu.available) lines.push(`GPU: ${escapeMd(obs.gpu.reason)}`, '');
  else if (vramSummary(obs)) lines.push(`GPU: ${vramSummary(obs)} used`, '');
  if (state.gateway) lines.push(`Gateway: ${escapeMd(gatewayText(state.gateway))}`, '');
  if (state.lastSwitch) {
    const s = state.lastSwitch;
    const answered = s.ok && s.firstAnswerMs !== undefined ? ` (first answer after ${formatMs(s.firstAnswerMs)})` : '';
    lines.push(`Last switch: ${escapeMd(s.to)}, ${s.ok ? formatMs(s.totalMs) : 'failed'}${answered}, ${ago(now - s.at)}`);
  }
  return lines.join('\n');
}

/** "gpumod.yaml has 2 problems", from the count the config source reported. */
function problemsText(state: UiState): string {
  const n = state.configProblems ?? 0;
  return n > 0 ? `gpumod.yaml has ${n} problem${n === 1 ? '' : 's'}` : 'gpumod.yaml has problems';
}

export function statusBarModel(state: UiState, now: number): StatusBarModel {
  const tooltip = servicesTable(state, now);
  // Only a missing file opens the editor from here: a click on a loading or broken config still
  // means "switch" (the command waits for the load, or says what is wrong and offers the file).
  if (!state.config) {
    if (state.configState === 'loading') return { text: '$(loading~spin) gpumod', tooltip, command: 'gpumod.switchMode', warning: false };
    if (state.configState === 'invalid') return { text: '$(warning) gpumod', tooltip, command: 'gpumod.switchMode', warning: true };
    return { text: '$(circuit-board) gpumod', tooltip, command: 'gpumod.openConfiguration', warning: false };
  }
  if (state.switching) {
    return { text: `$(sync~spin) ${state.switching.from ?? '…'} → ${state.switching.to}`, tooltip, command: undefined, warning: false };
  }
  const vram = vramSummary(state.observation);
  const mode = state.observation ? state.mode ?? 'no mode' : '…';
  const failed = state.observation ? [...state.observation.services.values()].some((o) => o.state === 'failed') : false;
  const warning = state.configState === 'invalid' || state.drift.length > 0 || failed || state.lastSwitch?.ok === false;
  return { text: `$(circuit-board) ${mode}${vram ? ` · ${vram}` : ''}`, tooltip, command: 'gpumod.switchMode', warning };
}

export type IconName = 'pass-filled' | 'debug-pause' | 'circle-large-outline' | 'sync~spin' | 'error' | 'question' | 'warning';

export interface ServiceItemModel {
  name: string;
  description: string;
  icon: IconName;
  /** A theme colour id, so the icon reads at a glance in any theme. */
  color?: string;
  tooltip: string;
}

export function serviceIcon(o: ServiceObservation | undefined): { icon: IconName; color?: string } {
  switch (o?.state) {
    case 'running':
      return o.healthy ? { icon: 'pass-filled', color: 'charts.green' } : { icon: 'warning', color: 'charts.yellow' };
    case 'sleeping':
      // L1 (weights in RAM) wakes in a blink; L2 and an unloaded model reload from disk.
      return { icon: 'debug-pause', color: o.sleep === 'l2' || o.sleep === 'router' ? 'charts.purple' : 'charts.blue' };
    case 'stopped':
      return { icon: 'circle-large-outline', color: 'disabledForeground' };
    case 'starting':
    case 'waking':
    case 'stopping':
      return { icon: 'sync~spin' };
    case 'failed':
      return { icon: 'error', color: 'errorForeground' };
    default:
      return { icon: 'question' };
  }
}

/** `demand`: what the gateway adds (demandText); `cards`: where it runs, when the view says (cardNote). */
export function serviceItem(svc: ServiceConfig, o: ServiceObservation | undefined, measured?: Measured, demand?: string, cards?: string): ServiceItemModel {
  const parts = [stateText(o)];
  const vram = heldVram(svc, o, measured);
  if (vram) parts.push(vram);
  if (cards) parts.push(cards);
  if (demand) parts.push(demand);
  parts.push(`:${svc.port}`);
  const since = o?.unit?.stateChangeUs ? new Date(o.unit.stateChangeUs / 1000).toLocaleTimeString() : undefined;
  const tooltip = [
    `**${escapeMd(svc.name)}** — ${escapeMd(stateText(o))}${demand ? ` (${escapeMd(demand)})` : ''}`,
    '',
    `unit \`${svc.unit}\` · driver ${svc.driver} · ${svc.host}:${svc.port}${cards ? ` · ${cards}` : ''}`,
    figuresText(svc, measured),
    ...(since ? [`last transition ${since}${o?.unit ? ` (${o.unit.activeState}/${o.unit.subState})` : ''}`] : []),
    ...(o?.detail ? ['', escapeMd(o.detail)] : []),
  ].join('\n\n');
  return { name: svc.name, description: parts.join(' · '), ...serviceIcon(o), tooltip };
}

/** How the services view groups: by mode when the toggle asks; else by card where there are several, flat on one. */
export type Grouping = 'flat' | 'mode' | 'card';

/** "GPU 1", "GPU 0+1": a service's cards in a word. */
export function cardsLabel(gpus: readonly number[]): string {
  return `GPU ${gpus.join('+')}`;
}

/** The machine has several cards, as nvidia-smi shows it or as the config places services. */
export function severalCards(config: Config, obs: Observation | undefined): boolean {
  if (obs?.gpu.available && obs.gpu.gpus.length > 1) return true;
  return [...config.services.values()].some((s) => s.gpus.some((g) => g !== 0));
}

/**
 * The toggle keeps its one meaning, "group by mode"; off, the view is what suits the machine: a flat
 * list on one card (as it always was), the services under their cards on several.
 */
export function servicesGrouping(config: Config, obs: Observation | undefined, byMode: boolean): Grouping {
  if (byMode) return 'mode';
  return severalCards(config, obs) ? 'card' : 'flat';
}

/**
 * What a service's row says of its cards: nothing on a one-card machine; under its card's row, only
 * a spread over several ("GPU 0+1", since it is listed under each); in the other views, its cards.
 */
export function cardNote(svc: Pick<ServiceConfig, 'gpus'>, grouping: Grouping, several: boolean): string | undefined {
  if (!several) return undefined;
  if (grouping === 'card' && svc.gpus.length < 2) return undefined;
  return cardsLabel(svc.gpus);
}
