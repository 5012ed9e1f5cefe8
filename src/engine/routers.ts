import type { Config, ServiceConfig } from '../config/types';
import type { SleepDepth } from './driverPort';
import type { GpuProcess } from './machinePorts';
import type { Fate } from './budget';
import type { RunAction } from './steps';
import type { Observation, ServiceObservation, SwitchState } from './types';

/**
 * Services that share one llama.cpp router (one unit serving several models) are one process: each
 * model runs as a child of the router, the router's own memory is counted once, and the unit stops
 * only when none of its models is wanted.
 */

/** The other models served by `svc`'s router (empty when it has the router to itself). */
export function routerMates(config: Config, svc: ServiceConfig): ServiceConfig[] {
  if (svc.driver !== 'llamacpp') return [];
  return [...config.services.values()].filter((o) => o.name !== svc.name && o.driver === 'llamacpp' && o.unit === svc.unit);
}

/** Every router unit serving more than one configured model, with its models in config order. */
export function sharedRouters(config: Config): Map<string, ServiceConfig[]> {
  const byUnit = new Map<string, ServiceConfig[]>();
  for (const s of config.services.values()) if (s.driver === 'llamacpp') byUnit.set(s.unit, [...(byUnit.get(s.unit) ?? []), s]);
  for (const [unit, list] of byUnit) if (list.length < 2) byUnit.delete(unit);
  return byUnit;
}

/** The router's own residue (its process, not a model's child): the largest `sleep_vram_mb` of its models. */
export function routerResidueMb(models: ServiceConfig[]): number {
  return Math.max(0, ...models.map((s) => s.sleepVramMb));
}

/**
 * VRAM of one router's models in their fates: each awake model its child (vram less the router's
 * share), an unloaded model nothing (it has no child), and the router itself once while it runs.
 */
export function routerVramMb(models: Array<{ svc: ServiceConfig; fate: Fate }>): number {
  const residue = routerResidueMb(models.map((m) => m.svc));
  const children = models.filter((m) => m.fate.kind === 'awake').reduce((sum, m) => sum + Math.max(0, m.svc.vramMb - residue), 0);
  return children + (models.some((m) => m.fate.kind !== 'off') ? residue : 0);
}

/** The router's idle sleep (`--sleep-idle-seconds`): the model's process is alive and holds memory. */
export function isIdle(o: Pick<ServiceObservation, 'state' | 'sleep'> | undefined): boolean {
  return o?.state === 'sleeping' && o.sleep === 'idle';
}

/** A model that holds memory in its router: loaded, loading, or idle. */
export function holdsModel(o: ServiceObservation | undefined): boolean {
  return !!o && (o.state === 'running' || o.state === 'waking' || o.state === 'starting' || isIdle(o));
}

/** The words after `--alias` / `--model` in a command line (NUL-separated argv, or one space-joined title). */
function argAfter(command: string[], flag: string, short?: string): string | undefined {
  const words = command.length === 1 ? command[0].split(/\s+/) : command;
  const i = words.findIndex((w) => w === flag || (short !== undefined && w === short));
  return i >= 0 ? words[i + 1] : undefined;
}

/** The model a router child serves, by its command line as the router spawns it (`--alias NAME --model PATH`). */
export function childModel(command: string[] | undefined, models: ServiceConfig[]): ServiceConfig | undefined {
  if (!command || command.length === 0) return undefined;
  const alias = argAfter(command, '--alias', '-a');
  const path = argAfter(command, '--model', '-m');
  const file = path?.split('/').pop()?.replace(/\.gguf$/, '');
  const dir = path?.split('/').slice(-2, -1)[0];
  return (
    models.find((s) => s.model !== undefined && s.model === alias) ??
    models.find((s) => s.model !== undefined && (s.model === path || s.model === file || s.model === dir))
  );
}

/**
 * Attributes a shared router's GPU processes per model (each model's child) and the rest to the
 * router itself (its residue, counted once in `routerMb`). Returns false for a process of no shared router.
 */
export function attributeRouterProcess(routers: Map<string, ServiceConfig[]>, obs: Pick<Observation, 'services'> & { routerMb: Map<string, number> }, p: GpuProcess): boolean {
  const models = p.unit ? routers.get(p.unit) : undefined;
  if (!models || !p.unit) return false;
  const mb = p.usedMb ?? 0;
  const model = childModel(p.command, models);
  const o = model ? obs.services.get(model.name) : undefined;
  if (o) o.vramMb = (o.vramMb ?? 0) + mb;
  else obs.routerMb.set(p.unit, (obs.routerMb.get(p.unit) ?? 0) + mb);
  return true;
}

/** What one service action does on a model of a shared router, and what the user is told about the others. */
export interface RouterAction {
  runs: Array<{ action: RunAction; depth?: SleepDepth }>;
  note: string;
}

/**
 * A service action on one model of a router that serves others acts on that model: stop unloads it,
 * restart unloads and loads it, start loads it into the running router. The unit itself stops or
 * restarts only when no other model of it is loaded, and the note says what became of the others.
 */
export function routerServiceAction(config: Config, obs: Observation, svc: ServiceConfig, action: string): RouterAction | undefined {
  const mates = routerMates(config, svc);
  if (mates.length === 0) return undefined;
  const serving = mates.filter((m) => holdsModel(obs.services.get(m.name))).map((m) => m.name);
  const idle = mates.filter((m) => !serving.includes(m.name)).map((m) => m.name);
  const unitUp = obs.services.get(svc.name)?.unit?.activeState === 'active';
  const others = (names: string[]): string => names.join(', ');
  switch (action) {
    case 'stop':
      return serving.length > 0
        ? { runs: [{ action: 'sleep', depth: 'router' }], note: `its model was unloaded; the router ${svc.unit} keeps serving ${others(serving)}` }
        : { runs: [{ action: 'stop' }], note: `no other model of ${svc.unit} was loaded, so the router stopped${idle.length ? ` (${others(idle)} with it)` : ''}` };
    case 'restart':
      return serving.length > 0 && unitUp
        ? { runs: [{ action: 'sleep', depth: 'router' }, { action: 'load' }], note: `its model was unloaded and loaded again; the router ${svc.unit} kept serving ${others(serving)}` }
        : { runs: [{ action: 'restart' }], note: `no other model of ${svc.unit} was loaded, so the router restarted${idle.length ? ` (${others(idle)} unloaded)` : ''}` };
    case 'start':
      return unitUp ? { runs: [{ action: 'load' }], note: `loaded into the running router ${svc.unit}` } : undefined;
    default:
      return undefined;
  }
}

/**
 * A loaded model whose process ended (killed, crashed) reads, at the router, like a load that failed:
 * the router says only `failed` and an exit code. What gpumod recorded tells them apart.
 */
export function explainEnded(config: Config, obs: Observation, prior: SwitchState | undefined): void {
  for (const o of obs.services.values()) {
    const before = prior?.services[o.name];
    if (o.state !== 'failed' || config.services.get(o.name)?.driver !== 'llamacpp' || !before) continue;
    if (!(before.state === 'running' || before.state === 'waking' || (before.state === 'sleeping' && before.sleep === 'idle'))) continue;
    const code = /exit code (\w+)/.exec(o.detail ?? '')?.[1];
    if (o.unit?.activeState === 'active') o.detail = `its process ended (killed, or crashed: exit code ${code ?? 'unknown'}) after its model had loaded`;
  }
}
