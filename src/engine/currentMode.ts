import type { Config } from '../config/types';
import { isIdle } from './routers';
import type { Observation } from './types';

export interface CurrentMode {
  mode: string | undefined;
  /** Why the machine is not (exactly) in a mode: "glm-code is sleeping (router)". */
  drift: string[];
  /** The mode's services that the gateway put to sleep for idleness: the mode holds, the next request wakes them. */
  idle?: string[];
}

/** "rag", or "rag (vllm-chat idle, asleep)" while some of its services sleep for idleness. */
export function modeLabel(mode: string | undefined, idle: readonly string[] | undefined): string | undefined {
  if (mode === undefined || !idle?.length) return mode;
  return `${mode} (${idle.join(', ')} idle, asleep)`;
}

/**
 * The mode the machine is in, from what was observed; the recorded mode only breaks ties. A mode
 * counts when all its services run: services of other modes may well stay running or asleep beside it.
 * `idleAsleep` (state.json's `idle`) names services the gateway put to sleep for idleness: while they
 * are observed asleep they count as in their mode, and the result names those of the mode.
 */
export function currentMode(config: Config, obs: Observation, recorded?: string, idleAsleep: readonly string[] = []): CurrentMode {
  const cm = modeFromRunning(config, obs, recorded, idleAsleep);
  const idle = cm.mode === undefined ? [] : (config.modes.get(cm.mode)?.services ?? []).filter((s) => isIdleAsleep(obs, s, idleAsleep));
  return idle.length ? { ...cm, idle } : cm;
}

function isIdleAsleep(obs: Observation, name: string, idleAsleep: readonly string[]): boolean {
  return idleAsleep.includes(name) && obs.services.get(name)?.state === 'sleeping';
}

function modeFromRunning(config: Config, obs: Observation, recorded: string | undefined, idleAsleep: readonly string[]): CurrentMode {
  // A router's idle model is still there (in memory, and any request reloads it): it counts as running.
  const running = new Set([...obs.services.values()].filter((o) => o.state === 'running' || isIdle(o) || isIdleAsleep(obs, o.name, idleAsleep)).map((o) => o.name));
  const unobserved = [...obs.services.values()].some((o) => o.state === 'unknown');
  // An empty mode ("give the card back") holds only when nothing runs and every service was seen.
  const allRunning = (mode: string): boolean => {
    const services = config.modes.get(mode)?.services;
    if (!services) return false;
    if (services.length === 0) return running.size === 0 && !unobserved;
    return services.every((s) => running.has(s));
  };
  if (recorded && config.modes.has(recorded) && allRunning(recorded)) return { mode: recorded, drift: [] };

  const exact = [...config.modes.values()].find((m) => m.services.length === running.size && allRunning(m.name));
  if (exact) return { mode: exact.name, drift: recorded && recorded !== exact.name ? driftOf(config, obs, recorded) : [] };

  // Otherwise the largest mode whose services all run, if exactly one is largest.
  const complete = [...config.modes.values()].filter((m) => m.services.length > 0 && allRunning(m.name));
  const size = Math.max(0, ...complete.map((m) => m.services.length));
  const largest = complete.filter((m) => m.services.length === size);
  if (largest.length === 1) return { mode: largest[0].name, drift: recorded && recorded !== largest[0].name ? driftOf(config, obs, recorded) : [] };

  const drift = recorded && config.modes.has(recorded) ? driftOf(config, obs, recorded) : [];
  if (drift.length === 0) {
    drift.push(unobserved ? 'some services could not be observed' : running.size ? `running: ${[...running].join(', ')}; no mode has exactly these services` : 'nothing is running');
  }
  return { mode: undefined, drift };
}

function driftOf(config: Config, obs: Observation, mode: string): string[] {
  return (config.modes.get(mode)?.services ?? [])
    .map((name) => obs.services.get(name) ?? { name, state: 'unknown' as const, sleep: undefined, detail: 'not observed' })
    .filter((o) => o.state !== 'running' && !isIdle(o))
    .map((o) => `${mode}: ${o.name} is ${o.state}${o.sleep ? ` (${o.sleep})` : ''}${o.detail ? `: ${o.detail}` : ''}`);
}
