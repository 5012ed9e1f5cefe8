import type { ServiceConfig } from '../config/types';
import type { Logger } from './logger';
import type { HttpClient, UnitStatus } from './machinePorts';

/**
 * What a driver saw when it asked the server (never assumed):
 * - `down`: nothing answers on the port (connection refused);
 * - `awake`: the model is in memory and serving is possible;
 * - `asleep`: the process is up but the model is out of VRAM (level says how deep);
 * - `loading`: a load or wake is under way (llama.cpp `loading`, vLLM partial wake);
 * - `failed`: the server reports a failed load (llama.cpp `failed` + exit code);
 * - `error`: it answered, but not as the protocol says (detail explains).
 */
export type ProbeState = 'down' | 'awake' | 'asleep' | 'loading' | 'failed' | 'error';
/**
 * `idle` is the llama.cpp router's own idle sleep (`--sleep-idle-seconds`): the model's process is
 * alive and holds memory, and any request reloads it. It is not an unload: gpumod never chooses it.
 */
export type SleepDepth = 'l1' | 'l2' | 'router' | 'hook' | 'idle';

export interface Probe {
  state: ProbeState;
  sleep?: SleepDepth;
  /** `/health` answered 2xx (asked only after the sleep probe). */
  healthy: boolean;
  detail?: string;
  /** A llama.cpp router's `--models-max` (GET /props `max_instances`; 0 = unlimited), when it said. */
  modelsMax?: number;
}

export interface DriverCapabilities {
  /** Sleep depths this service can be put in, shallowest first; empty = start/stop only. */
  sleepLevels: SleepDepth[];
  /** A sleep can be undone without a cold start. */
  canWake: boolean;
  /** The server can drain in-flight requests before sleeping. */
  canDrain: boolean;
}

export interface DriverContext {
  http: HttpClient;
  log: Logger;
  signal: AbortSignal;
  /** Set by pollUntil on its repeated looks: their requests are logged at debug. */
  quiet?: boolean;
}

/** One interface per server kind. Every method checks every response and honours ctx.signal. */
export interface Driver {
  readonly kind: ServiceConfig['driver'];
  capabilities(svc: ServiceConfig): DriverCapabilities;
  /** Sleep state first, then health: a sleeping server is asleep, not unhealthy. */
  probe(svc: ServiceConfig, ctx: DriverContext, unit?: UnitStatus): Promise<Probe>;
  /** Resolves once the server reports itself asleep at `depth`; throws GpumodError otherwise. */
  sleep(svc: ServiceConfig, depth: SleepDepth, ctx: DriverContext, opts?: { force?: boolean }): Promise<void>;
  /**
   * Resolves once the server reports itself awake (a llama.cpp load is polled until `loaded`).
   * `depth` is the observed sleep depth; when unknown the driver finds out or takes the safe path.
   */
  wake(svc: ServiceConfig, ctx: DriverContext, depth?: SleepDepth): Promise<void>;
  /** After a cold start: waits until the server answers health (and, for a router, loads the model). */
  awaitReady(svc: ServiceConfig, ctx: DriverContext, deadlineMs: number): Promise<void>;
  /**
   * The configured readiness request (a short completion, say), if any: resolves with the generated
   * text when the request asks for text, sent deterministic so answers can be compared.
   */
  readiness(svc: ServiceConfig, ctx: DriverContext): Promise<string | undefined>;
}
