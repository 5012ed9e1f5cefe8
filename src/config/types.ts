/** The validated, normalised form of gpumod.yaml: every default applied, every reference resolved. */

export type DriverKind = 'vllm' | 'llamacpp' | 'http' | 'systemd';
/** How a service sleeps: vLLM levels, the llama.cpp router's model unload, configured HTTP hooks, or not at all. */
export type SleepMode = 'none' | 'l1' | 'l2' | 'router' | 'hooks';

/** A configured request such as `POST /unload`. */
export interface HookRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
}

export interface HttpHooks {
  sleep: HookRequest;
  wake: HookRequest;
  /** Answers 2xx; its JSON body's `sleeping`/`loaded` (or `state`) field tells the state. */
  probe: HookRequest;
}

/** An optional request proving the server can serve: a 1-token completion, say. */
export interface ReadinessRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}

export type MemoryKey = 'vram_mb' | 'sleep_vram_mb' | 'sleep_ram_mb';

export interface ServiceConfig {
  name: string;
  driver: DriverKind;
  unit: string;
  host: string;
  port: number;
  /** VRAM held awake, in MB (0 when the config does not say: see `undeclared`). */
  vramMb: number;
  sleep: SleepMode;
  /** VRAM still held while asleep (CUDA context, graphs, the router process). */
  sleepVramMb: number;
  /** Host RAM held while asleep (L1-offloaded weights). */
  sleepRamMb: number;
  /**
   * The memory figures the config leaves out: defaults stand in for them until gpumod has measured the
   * service. Without `vram_mb` its size is unknown (the planner's rule: it runs alone on its card).
   */
  undeclared?: MemoryKey[];
  hooks?: HttpHooks;
  /** llama.cpp router: the model to load and unload. */
  model?: string;
  /** Model names requests through the gateway use for this service (`serves`, and `model`). */
  serves?: string[];
  /** Sleep after this long without a request through the gateway; undefined: never. */
  idleSleepMs?: number;
  startupTimeoutMs: number;
  wakeTimeoutMs: number;
  sleepTimeoutMs: number;
  stopTimeoutMs: number;
  healthPath: string;
  readiness?: ReadinessRequest;
  /** The first of `gpus`: the card of a one-card service. */
  gpu: number;
  /**
   * Every card the service uses (`gpus`, or `[gpu]`). Its VRAM figures are totals over them, split
   * evenly where gpumod has not measured each card (budget.ts vramOn).
   */
  gpus: number[];
  description?: string;
  /** Services on the same host:port as other processes: only one of them runs at a time. */
  alternatives: string[];
}

export interface ModeConfig {
  name: string;
  services: string[];
  description?: string;
}

export interface BudgetConfig {
  /** VRAM kept free on top of the plan, in MB. */
  marginMb: number;
  /** The GPU's total memory when no GPU is visible (planning on a laptop, say); 0 = unknown. */
  gpuTotalMb: number;
  /** Host RAM that sleeping services may hold, in MB; 0 = unlimited. */
  hostRamMb: number;
}

export interface Config {
  /** The file it came from, for messages. */
  path: string;
  services: Map<string, ServiceConfig>;
  modes: Map<string, ModeConfig>;
  budget: BudgetConfig;
  /** Non-loopback hosts the user explicitly allowed. */
  allowedHosts: string[];
  /** Absent: the defaults (DEFAULT_GATEWAY_PORT, no token). */
  gateway?: GatewayConfig;
}

/** gateway.port when the config does not say. */
export const DEFAULT_GATEWAY_PORT = 7099;

export interface GatewayConfig {
  /** Loopback port. */
  port: number;
  /** Bearer token requests must carry, when set. */
  token?: string;
}

/** One problem in a config file, located precisely. */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}
