/**
 * The workstation of docs/WORKSTATION.md as fakes: eight services, four modes, a 32 GB or a
 * 24 GB card. Durations are real-world milliseconds; the fakes divide them by the time scale. Used by
 * the demo, the benchmark and the integration tests, so all three switch the same machine.
 * Beside it, seven of them pinned to two 24 GB cards and an eighth spread over both (TWO_CARD_PROFILE).
 */

export type FakeKind = 'vllm' | 'llamaRouter' | 'hookServer' | 'plainServer';

/** An HTTP request to a service, path relative to its port. */
export interface ServiceRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}

export interface ProfileService {
  name: string;
  fake: FakeKind;
  /** Fake options (without --port, --time-scale, --gpu-dir, and the cards: they follow config.gpu / gpus). */
  args: string[];
  /** The service's gpumod.yaml entry (without unit and port). */
  config: Record<string, unknown>;
  /** Real-world cold start, for the naive strategy's expectations and the demo's narration. */
  coldStartMs: number;
  /** What a user asks first: a one-token completion, a first embedding or rerank, a transcription (the bench's time to first token). */
  firstRequest: ServiceRequest;
}

/**
 * vLLM's first request after a start or a wake is slower until the server has warmed up (kernels,
 * allocator, caches): its sleep-mode blog measured 2.59 s without a one-token warm-up against 0.45 s
 * with one for a small model (5.8x), 6.61 s against 0.93 s for a vision model (7.1x). The fakes
 * answer a one-token request in --infer-ms; the first one takes the blog's ratio times that.
 */
const WARM_SMALL_MS = 50;
const WARM_VISION_MS = Math.round((WARM_SMALL_MS * 0.93) / 0.45);
const warmUp = (warmMs: number, cold: number, warm: number): string[] => ['--infer-ms', String(warmMs), '--first-request-ms', String(Math.round((warmMs * cold) / warm))];
const SMALL = warmUp(WARM_SMALL_MS, 2.59, 0.45);
const VISION = warmUp(WARM_VISION_MS, 6.61, 0.93);

const complete = (model: string): ServiceRequest => ({ method: 'POST', path: '/v1/completions', body: { model, prompt: 'Hello', max_tokens: 1 } });
const embed = (model: string): ServiceRequest => ({ method: 'POST', path: '/v1/embeddings', body: { model, input: 'Hello' } });

export const PROFILE: ProfileService[] = [
  {
    name: 'vllm-chat',
    fake: 'vllm',
    coldStartMs: 60000,
    args: ['--model', 'chat-2b-vl', '--vram-mb', '7000', '--vram-asleep-mb', '1500', '--startup-ms', '60000', '--sleep-ms-l1', '500', '--wake-ms-l1', '500', '--stop-ms', '1000', ...VISION],
    firstRequest: complete('chat-2b-vl'),
    config: { driver: 'vllm', vram_mb: 7000, sleep: 'l1', sleep_vram_mb: 1500, sleep_ram_mb: 4500 },
  },
  {
    name: 'vllm-hyde',
    fake: 'vllm',
    coldStartMs: 45000,
    args: ['--model', 'hyde-small', '--vram-mb', '5000', '--vram-asleep-mb', '1000', '--startup-ms', '45000', '--sleep-ms-l2', '100', '--wake-ms-l2', '300', '--reload-ms', '1200', '--wake-ms-kv', '100', '--stop-ms', '1000', ...SMALL],
    firstRequest: complete('hyde-small'),
    config: { driver: 'vllm', vram_mb: 5000, sleep: 'l2', sleep_vram_mb: 1000 },
  },
  {
    name: 'vllm-reranker',
    fake: 'vllm',
    coldStartMs: 40000,
    args: ['--model', 'reranker', '--vram-mb', '3000', '--vram-asleep-mb', '800', '--startup-ms', '40000', '--sleep-ms-l2', '100', '--wake-ms-l2', '200', '--reload-ms', '600', '--wake-ms-kv', '100', '--stop-ms', '1000', '--runner', 'pooling', ...SMALL],
    firstRequest: { method: 'POST', path: '/v1/rerank', body: { model: 'reranker', query: 'Hello', documents: ['Hello there', 'Goodbye'] } },
    config: { driver: 'vllm', vram_mb: 3000, sleep: 'l2', sleep_vram_mb: 800 },
  },
  {
    name: 'vllm-embedding',
    fake: 'vllm',
    coldStartMs: 120000,
    args: ['--model', 'embedding', '--vram-mb', '3000', '--vram-asleep-mb', '3000', '--startup-ms', '120000', '--stop-ms', '1000', '--runner', 'pooling', ...SMALL],
    firstRequest: embed('embedding'),
    config: { driver: 'vllm', vram_mb: 3000 },
  },
  {
    name: 'vllm-embedding-code',
    fake: 'vllm',
    coldStartMs: 60000,
    args: ['--model', 'embedding-code', '--vram-mb', '3000', '--vram-asleep-mb', '3000', '--startup-ms', '60000', '--stop-ms', '1000', '--runner', 'pooling', ...SMALL],
    firstRequest: embed('embedding-code'),
    config: { driver: 'vllm', vram_mb: 3000 },
  },
  {
    name: 'vllm-tts',
    fake: 'vllm',
    coldStartMs: 90000,
    args: ['--model', 'tts', '--vram-mb', '4000', '--vram-asleep-mb', '4000', '--startup-ms', '90000', '--stop-ms', '1000', ...SMALL],
    firstRequest: complete('tts'),
    config: { driver: 'vllm', vram_mb: 4000 },
  },
  {
    name: 'qwen3-asr',
    fake: 'hookServer',
    coldStartMs: 22000,
    args: ['--vram-mb', '2500', '--vram-asleep-mb', '500', '--startup-ms', '20000', '--unload-ms', '200', '--load-ms', '2000', '--stop-ms', '1000'],
    firstRequest: { method: 'POST', path: '/transcribe', body: {} },
    config: { driver: 'http', vram_mb: 2500, sleep: { sleep: 'POST /unload', wake: 'POST /load', probe: 'GET /status' }, sleep_vram_mb: 500, sleep_ram_mb: 1500 },
  },
  {
    name: 'glm-code',
    fake: 'llamaRouter',
    coldStartMs: 30100,
    args: ['--models', 'GLM-4.5-Air-Q4', '--models-max', '1', '--no-models-autoload', '--router-vram-mb', '300', '--model-vram-mb', '19700', '--startup-ms', '100', '--load-ms', '30000', '--unload-ms', '200', '--stop-ms', '1400'],
    firstRequest: complete('GLM-4.5-Air-Q4'),
    config: { driver: 'llamacpp', vram_mb: 20000, model: 'GLM-4.5-Air-Q4', sleep_vram_mb: 300 },
  },
];

export const MODES: Record<string, { services: string[]; description: string }> = {
  code: { services: ['glm-code', 'vllm-embedding-code'], description: 'Coding: a local GLM and code embeddings' },
  rag: { services: ['vllm-embedding', 'vllm-reranker', 'vllm-hyde', 'vllm-chat'], description: 'Retrieval: embeddings, reranker, HyDE and chat' },
  speak: { services: ['vllm-tts', 'qwen3-asr', 'vllm-embedding', 'vllm-chat'], description: 'Voice: speech in and out, with chat' },
  blank: { services: [], description: 'The card to yourself' },
};

/** nvidia-smi's MiB totals of the two cards. */
export const CARDS: Record<'32' | '24', { totalMb: number; name: string }> = {
  '32': { totalMb: 32607, name: 'NVIDIA GeForce RTX 5090' },
  '24': { totalMb: 24564, name: 'NVIDIA GeForce RTX 4090' },
};

/** The demo machines: one card of CARDS, or two 24 GB cards. */
export type CardSet = '32' | '24' | '2x24';

export interface WorkstationProfile {
  cards: Array<{ totalMb: number; name: string }>;
  services: ProfileService[];
  modes: Record<string, { services: string[]; description: string }>;
  /** The demo's route through the modes, from blank. */
  lap: string[];
}

const pinned = (gpu: number, name: string): ProfileService => {
  const s = PROFILE.find((p) => p.name === name);
  if (!s) throw new Error(`no ${name} in the profile`);
  return { ...s, config: { ...s.config, gpu } };
};

/**
 * Two RTX 4090s: the coding model and HyDE on card 0, chat, embeddings, reranker and voice on card 1,
 * and a 34 GB model that fits neither card alone, spread over both with tensor parallelism. Asleep,
 * each of its workers keeps 2.5 GB on its card (real TP=2 servers keep up to 7.4 GB a card), which
 * still leaves room for the coding model beside it on card 0.
 */
export const TWO_CARD_PROFILE: ProfileService[] = [
  pinned(0, 'glm-code'),
  pinned(0, 'vllm-hyde'),
  ...['vllm-chat', 'vllm-embedding', 'vllm-reranker', 'vllm-tts', 'qwen3-asr'].map((name) => pinned(1, name)),
  {
    name: 'vllm-large',
    fake: 'vllm',
    coldStartMs: 90000,
    // 34000 MB: 5000 of residue (2500 a card), 11600 of KV cache, 17400 of weights offloaded to RAM at L1.
    args: ['--model', 'large-34b-tp2', '--vram-mb', '34000', '--vram-asleep-mb', '2500', '--startup-ms', '90000', '--sleep-ms-l1', '1500', '--wake-ms-l1', '1500', '--stop-ms', '2000', ...SMALL],
    firstRequest: complete('large-34b-tp2'),
    config: { driver: 'vllm', gpus: [0, 1], vram_mb: 34000, sleep: 'l1', sleep_vram_mb: 5000, sleep_ram_mb: 17400 },
  },
];

export const TWO_CARD_MODES: Record<string, { services: string[]; description: string }> = {
  code: { services: ['glm-code', 'vllm-embedding'], description: 'Coding: GLM on card 0, embeddings on card 1' },
  rag: { services: ['vllm-hyde', 'vllm-embedding', 'vllm-reranker', 'vllm-chat'], description: 'Retrieval: HyDE on card 0, embeddings, reranker and chat on card 1' },
  speak: { services: ['vllm-tts', 'qwen3-asr', 'vllm-embedding', 'vllm-chat'], description: 'Voice on card 1, with chat' },
  large: { services: ['vllm-large', 'vllm-embedding'], description: 'A 34 GB model over both cards, with embeddings' },
  blank: { services: [], description: 'Both cards to yourself' },
};

export function workstationProfile(cards: CardSet): WorkstationProfile {
  if (cards === '2x24') return { cards: [CARDS['24'], CARDS['24']], services: TWO_CARD_PROFILE, modes: TWO_CARD_MODES, lap: ['code', 'large', 'rag', 'speak', 'large', 'blank'] };
  return { cards: [CARDS[cards]], services: PROFILE, modes: MODES, lap: ['code', 'rag', 'speak', 'code', 'blank'] };
}

/** The cards a profile service runs on, as its gpumod.yaml entry says (card 0 when it says nothing). */
export function cardsOf(s: ProfileService): number[] {
  const { gpu, gpus } = s.config as { gpu?: number; gpus?: number[] };
  return gpus ?? [gpu ?? 0];
}
