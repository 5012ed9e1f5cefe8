import { alternativesOf } from '../../../src/config/alternatives';
import type { Config, DriverKind, ServiceConfig, SleepMode } from '../../../src/config/types';
import { observe } from '../../../src/engine/observe';
import type { SleepDepth } from '../../../src/engine/driverPort';
import type { Observation, SwitchRecord, TimelineEntry } from '../../../src/engine/types';
import { FakeMachine, type FakeState, type Timing } from './fakeMachine';

/** The two cards of profile.md, as nvidia-smi reports them (MiB). */
export const CARD_MB = { 24: 24564, 32: 32607 } as const;
export type Card = keyof typeof CARD_MB;

export type ModeName = 'code' | 'rag' | 'speak' | 'blank';

interface Row {
  driver: DriverKind;
  sleep: SleepMode;
  vram: number;
  residue: number;
  ram: number;
  timing: Partial<Timing>;
}

/** profile.md's table: awake and asleep VRAM, host RAM asleep, and the measured latencies. */
const ROWS: Record<string, Row> = {
  'vllm-chat': { driver: 'vllm', sleep: 'l1', vram: 7000, residue: 1500, ram: 4500, timing: { coldMs: 60_000, sleepMs: 500, wakeMs: { l1: 500, l2: 1500 } } },
  'vllm-hyde': { driver: 'vllm', sleep: 'l2', vram: 5000, residue: 1000, ram: 0, timing: { coldMs: 45_000, sleepMs: 100, wakeMs: { l2: 1800 } } },
  'vllm-reranker': { driver: 'vllm', sleep: 'l2', vram: 3000, residue: 800, ram: 0, timing: { coldMs: 40_000, sleepMs: 100, wakeMs: { l2: 900 } } },
  'vllm-embedding': { driver: 'vllm', sleep: 'none', vram: 3000, residue: 0, ram: 0, timing: { coldMs: 120_000 } },
  'vllm-embedding-code': { driver: 'vllm', sleep: 'none', vram: 3000, residue: 0, ram: 0, timing: { coldMs: 60_000 } },
  'vllm-tts': { driver: 'vllm', sleep: 'none', vram: 4000, residue: 0, ram: 0, timing: { coldMs: 90_000 } },
  'qwen3-asr': { driver: 'http', sleep: 'hooks', vram: 2500, residue: 500, ram: 1500, timing: { coldMs: 20_000, sleepMs: 200, wakeMs: { hook: 2000 } } },
  'glm-code': { driver: 'llamacpp', sleep: 'router', vram: 20_000, residue: 300, ram: 0, timing: { coldMs: 20_000, sleepMs: 4, stopMs: 1200, wakeMs: { router: 20_000 } } },
};

export const MODES: Record<ModeName, string[]> = {
  code: ['glm-code', 'vllm-embedding-code'],
  rag: ['vllm-embedding', 'vllm-reranker', 'vllm-hyde', 'vllm-chat'],
  speak: ['vllm-tts', 'qwen3-asr', 'vllm-embedding', 'vllm-chat'],
  blank: [],
};

export function service(name: string, row: Omit<Row, 'timing'>, port: number, extra: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    name,
    driver: row.driver,
    unit: `${name}.service`,
    host: '127.0.0.1',
    port,
    vramMb: row.vram,
    sleep: row.sleep,
    sleepVramMb: row.residue,
    alternatives: [],
    sleepRamMb: row.ram,
    model: row.driver === 'llamacpp' ? 'GLM-4.5-Air-Q4' : undefined,
    startupTimeoutMs: 300_000,
    wakeTimeoutMs: 120_000,
    sleepTimeoutMs: 60_000,
    stopTimeoutMs: 90_000,
    healthPath: '/health',
    gpu: extra.gpus?.[0] ?? extra.gpu ?? 0,
    ...extra,
    gpus: extra.gpus ?? [extra.gpu ?? 0],
  };
}

/** The eight-service workstation of profile.md (the card's size comes from the GPU snapshot). */
export function profileConfig(budget: Partial<Config['budget']> = {}, extra: ServiceConfig[] = []): Config {
  const services = new Map<string, ServiceConfig>();
  let port = 7070;
  for (const [name, row] of Object.entries(ROWS)) services.set(name, service(name, row, port++));
  // The chat model proves it can serve with a 1-token completion.
  services.get('vllm-chat')!.readiness = { method: 'POST', path: '/v1/completions', body: { prompt: 'hi', max_tokens: 1 } };
  for (const s of extra) services.set(s.name, s);
  for (const s of services.values()) s.alternatives = alternativesOf({ services }, s.name);
  return {
    path: '/home/me/.config/gpumod/gpumod.yaml',
    services,
    modes: new Map(Object.entries(MODES).map(([name, list]) => [name, { name, services: [...list] }])),
    budget: { marginMb: 512, gpuTotalMb: 0, hostRamMb: 0, ...budget },
    allowedHosts: [],
  };
}

export const TIMINGS: Record<string, Partial<Timing>> = Object.fromEntries(Object.entries(ROWS).map(([n, r]) => [n, r.timing]));

const ALL_STOPPED: Record<string, FakeState> = Object.fromEntries(Object.keys(ROWS).map((n) => [n, 'stopped']));

/**
 * Where each mode leaves the machine after some use, as a sleep-aware manager would: on 32 GB every
 * residue stays beside any mode and the services that cannot sleep stay up while there is room; on
 * 24 GB, code (23 GB) leaves room for one residue only (vllm-hyde: the most valuable that fits).
 */
export const STEADY: Record<Card, Record<ModeName, Record<string, FakeState>>> = {
  32: {
    code: { 'glm-code': 'running', 'vllm-embedding-code': 'running', 'vllm-embedding': 'running', 'vllm-chat': 'l1', 'vllm-hyde': 'l2', 'vllm-reranker': 'l2', 'qwen3-asr': 'hook' },
    rag: { 'glm-code': 'router', 'vllm-embedding-code': 'running', 'vllm-embedding': 'running', 'vllm-chat': 'running', 'vllm-hyde': 'running', 'vllm-reranker': 'running', 'qwen3-asr': 'hook' },
    speak: { 'glm-code': 'router', 'vllm-embedding-code': 'running', 'vllm-embedding': 'running', 'vllm-chat': 'running', 'vllm-hyde': 'l2', 'vllm-reranker': 'l2', 'qwen3-asr': 'running', 'vllm-tts': 'running' },
    blank: { 'glm-code': 'router', 'vllm-chat': 'l1', 'vllm-hyde': 'l2', 'vllm-reranker': 'l2', 'qwen3-asr': 'hook' },
  },
  24: {
    code: { 'glm-code': 'running', 'vllm-embedding-code': 'running', 'vllm-hyde': 'l2' },
    rag: { 'glm-code': 'router', 'vllm-embedding-code': 'running', 'vllm-embedding': 'running', 'vllm-chat': 'running', 'vllm-hyde': 'running', 'vllm-reranker': 'running' },
    speak: { 'glm-code': 'router', 'vllm-embedding': 'running', 'vllm-chat': 'running', 'qwen3-asr': 'running', 'vllm-tts': 'running', 'vllm-hyde': 'l2', 'vllm-reranker': 'l2' },
    blank: { 'glm-code': 'router', 'vllm-chat': 'l1', 'vllm-hyde': 'l2', 'vllm-reranker': 'l2', 'qwen3-asr': 'hook' },
  },
};

/** A fake machine with the profile's latencies on the given card, in `mode`'s steady state (plus overrides). */
export function machine(card: Card, mode: ModeName | undefined, overrides: Record<string, FakeState> = {}, config = profileConfig()): FakeMachine {
  const m = new FakeMachine(config, CARD_MB[card], TIMINGS);
  m.set({ ...ALL_STOPPED, ...(mode ? STEADY[card][mode] : {}), ...overrides });
  return m;
}

/** Observes a fake machine through the real observe(). */
export function look(m: FakeMachine): Promise<Observation> {
  return observe(m.config, m.ports(), new AbortController().signal);
}

/** A history record with the profile's measured durations, so estimates match profile.md (not the defaults). */
export function profileHistory(): SwitchRecord[] {
  const steps: TimelineEntry[] = [];
  const entry = (service: string, action: TimelineEntry['action'], ms: number, depth?: SleepDepth): void => {
    steps.push({ service, action, ms, startMs: 0, result: 'ok', phase: 'acquire', ...(depth ? { depth } : {}) });
  };
  for (const [name, row] of Object.entries(ROWS)) {
    const t = row.timing;
    entry(name, 'start', t.coldMs ?? 0);
    if (row.driver === 'llamacpp') entry(name, 'load', t.wakeMs?.router ?? 20_000);
    else for (const [depth, ms] of Object.entries(t.wakeMs ?? {})) entry(name, 'wake', ms, depth as SleepDepth);
  }
  return [{ kind: 'switch', from: undefined, to: 'rag', startedAt: 0, totalMs: 0, ok: true, rolledBack: false, cancelled: false, steps }];
}
