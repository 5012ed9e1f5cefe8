// Fake vLLM OpenAI server with sleep mode (protocols.md Part 1). Runnable standalone:
//   node out/test/fakes/vllm.js --port 0 --model chat --startup-ms 0 --gpu-dir /tmp/gpu
// VRAM is held by a child process titled VLLM::EngineCore, as real V1 vLLM holds it; with --gpus 0,1
// (tensor parallelism) by one child per card, VLLM::Worker_TP0 and VLLM::Worker_TP1 (lib/vllmEngine.ts).
import { Ctx, FakeServer, fastApiMethodNotAllowed, fastApiNotFound, sleep, type Route } from './lib/fakeServer';
import { countTokens, randomId } from './lib/common';
import { engineCards, startEngine } from './lib/vllmEngine';
import { commonOptions, parseOptions, type OptionSpec } from './lib/options';

const SPECS: OptionSpec[] = [
  ...commonOptions({ port: 8000, startupMs: 60000, stopMs: 1000 }),
  { name: 'model', kind: 'string', default: 'fake/model', help: 'served model name' },
  { name: 'dev-mode', kind: 'onoff', default: true, help: 'VLLM_SERVER_DEV_MODE: off = /sleep /wake_up /is_sleeping /collective_rpc /reset_prefix_cache answer 404' },
  { name: 'sleep-mode-enabled', kind: 'onoff', default: true, help: '--enable-sleep-mode: off = /sleep answers 200 but frees nothing' },
  { name: 'supports-mode-param', kind: 'onoff', default: true, help: 'off = an old vLLM that ignores ?mode= (in-flight requests go on and return garbage)' },
  { name: 'sleep-ms-l1', kind: 'number', default: 500, help: 'duration of /sleep?level=1' },
  { name: 'sleep-ms-l2', kind: 'number', default: 100, help: 'duration of /sleep?level=2' },
  { name: 'wake-ms-l1', kind: 'number', default: 500, help: 'waking the weights after a level-1 sleep (copy back from host RAM)' },
  { name: 'wake-ms-l2', kind: 'number', default: 300, help: 'waking the weights after a level-2 sleep (remap empty memory)' },
  { name: 'wake-ms-kv', kind: 'number', default: 50, help: 'waking the kv_cache tag' },
  { name: 'reload-ms', kind: 'number', default: 1500, help: 'collective_rpc reload_weights' },
  { name: 'infer-ms', kind: 'number', default: 50, help: 'time to answer a request (completion, embedding, rerank) on a warm server' },
  { name: 'stream-token-ms', kind: 'number', default: 20, help: 'with "stream": true, the time between two streamed tokens (real ms, not time-scaled: what a client sees arrive)' },
  {
    name: 'first-request-ms',
    kind: 'number',
    default: 0,
    help: 'the first request after a start or a wake takes this instead of --infer-ms (kernels, allocator and caches warming up); any request pays it, a readiness warm-up too, and requests arriving meanwhile wait for it; 0 = no penalty',
  },
  { name: 'runner', kind: 'string', default: 'generate', help: 'generate (completions, chat) | pooling (embeddings, rerank): the other kind answers 400, as vLLM does' },
  { name: 'asleep-policy', kind: 'string', default: 'hang', help: 'inference while asleep: hang (queued until wake, >=0.16) | abort (finish_reason "abort") | crash (old V0: the server dies)' },
  { name: 'vram-mb', kind: 'int', default: 7000, help: 'VRAM held awake (with --gpus: the total over the cards, split evenly)' },
  { name: 'vram-asleep-mb', kind: 'int', default: 1500, help: 'VRAM still held asleep (CUDA context, graphs); with --gpus: on each card (real TP=2 servers keep 7.4 GB a card)' },
  { name: 'kv-cache-mb', kind: 'int', help: 'part of --vram-mb that is KV cache [default 40% of awake minus asleep]' },
  { name: 'gpus', kind: 'list', default: [], help: 'the cards of a tensor-parallel server, e.g. 0,1 (replaces --gpu-index): one VLLM::Worker_TPn child per card holds its share' },
  { name: 'wake-drift', kind: 'onoff', default: false, help: 'on = after any wake the model answers differently (a stale prefix cache, LoRA adapters corrupted by an L1 wake) until the process restarts' },
  { name: 'gpu-child', kind: 'onoff', default: true, help: 'hold VRAM in a child process (VLLM::EngineCore) rather than the server itself (with --gpus: the server holds the first card)' },
  { name: 'vllm-version', kind: 'string', default: '0.17.1', help: 'what GET /version answers' },
  { name: 'max-model-len', kind: 'int', default: 4096, help: 'max_model_len in /v1/models' },
];

const SUMMARY = `Fake vLLM OpenAI-compatible server with sleep mode: /v1/completions and /v1/chat/completions
(--runner generate), /v1/embeddings, /v1/rerank and /rerank (--runner pooling). Faults: ENDPOINT:KIND[:AFTER_N[:TIMES]].
Runtime control: POST /_fake/fault {"endpoint","kind","after","times","message","forMs"}, DELETE /_fake/fault, GET /_fake/state.
After a level-2 wake without reload_weights, completions return text "\\u0000\\u0000garbage…" and "fake_garbage":true.`;

type Tag = 'weights' | 'kv_cache';
/** The OpenAI-style APIs the fake serves; the first two need --runner generate, the others pooling. */
type Api = 'completion' | 'chat' | 'embedding' | 'rerank';
const API_NAMES: Record<Api, string> = { completion: 'Completions API', chat: 'Chat Completions API', embedding: 'Embeddings API', rerank: 'Rerank (Score) API' };
const POOLING: Api[] = ['embedding', 'rerank'];
type JobState = 'running' | 'waiting' | 'frozen';

interface Job {
  ctx: Ctx;
  api: Api;
  promptTokens: number;
  /** Rerank: how many documents to score. */
  documents: number;
  maxTokens: number;
  state: JobState;
  remainingMs: number;
  startedAt: number;
  timer?: NodeJS.Timeout;
  /** Ran while the engine's memory was unmapped (old vLLM without ?mode=): its output is garbage. */
  garbage: boolean;
  /** "stream": true (completions, chat): server-sent events, one chunk a token. */
  stream?: boolean;
}

/** FastAPI HTTPException body in vLLM >= 0.10 (§1.9). */
function vllmError(message: string, type: string, code: number, param: string | null = null): unknown {
  return { error: { message, type, param, code } };
}

/** Python's json.loads message for a body Node could not parse (close enough to assert on the prefix). */
function pythonJsonError(text: string, nodeMessage: string): string {
  const m = /position (\d+)/.exec(nodeMessage);
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `Expecting value: line ${line} column ${col} (char ${pos})`;
}

async function main(): Promise<void> {
  const opts = parseOptions('vllm', SUMMARY, SPECS, process.argv.slice(2));
  const model = opts.str('model');
  const policy = opts.str('asleep-policy');
  if (!['hang', 'abort', 'crash'].includes(policy)) {
    process.stderr.write(`vllm: --asleep-policy must be hang|abort|crash\n`);
    process.exit(2);
  }
  const cards = engineCards(opts);
  if (typeof cards === 'string') {
    process.stderr.write(`vllm: ${cards}\n`);
    process.exit(2);
  }
  const vramMb = opts.num('vram-mb');
  // The residue is per card: each worker keeps its own CUDA context and graphs.
  const residueMb = Math.min(opts.num('vram-asleep-mb'), Math.floor(vramMb / cards.length)) * cards.length;
  const kvMb = opts.optNum('kv-cache-mb') ?? Math.round((vramMb - residueMb) * 0.4);
  const weightsMb = vramMb - residueMb - kvMb;
  const sleepModeEnabled = opts.bool('sleep-mode-enabled');
  const runner = opts.str('runner');
  if (!['generate', 'pooling'].includes(runner)) {
    process.stderr.write(`vllm: --runner must be generate|pooling\n`);
    process.exit(2);
  }

  let shuttingDown = false;
  const engine = await startEngine(opts, cards);
  process.on('exit', () => engine.kill());
  // V1: when EngineCore (or one of its workers) dies the API server shuts down too.
  void engine.died?.then(({ name, code }) => {
    if (shuttingDown) return;
    process.stderr.write(`vllm: ${name} died (exit ${code}); shutting down\n`);
    process.exit(1);
  });
  const gpu = engine.gpu;

  const st = {
    sleepingTags: new Set<Tag>(),
    level: 0,
    paused: false, // level-0 sleep: scheduling paused, memory kept
    draining: false, // /sleep?mode=wait in progress: new requests queue
    weightsValid: true,
    /** Woken with --wake-drift on: answers differ from a fresh start's. */
    drifted: false,
    engineDead: false,
    busy: 0,
    /** Started or woken and not asked anything since: the next request pays --first-request-ms. */
    cold: true,
    /** When the request that paid the warm-up finishes: requests started before then wait for it. */
    warmAt: 0,
  };
  const jobs = new Set<Job>();
  let chain: Promise<unknown> = Promise.resolve();
  // The engine core handles one utility call at a time.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(async () => {
      st.busy++;
      try {
        return await fn();
      } finally {
        st.busy--;
      }
    });
    chain = run.catch(() => undefined);
    return run;
  };
  const asleep = (): boolean => st.sleepingTags.size > 0 || st.paused;
  const count = (s: JobState): number => [...jobs].filter((j) => j.state === s).length;

  const vramNow = (): number => {
    if (!sleepModeEnabled) return vramMb;
    return residueMb + (st.sleepingTags.has('weights') ? 0 : weightsMb) + (st.sleepingTags.has('kv_cache') ? 0 : kvMb);
  };

  const respond = (job: Job, reason: 'length' | 'abort'): void => {
    if (job.timer) clearTimeout(job.timer);
    jobs.delete(job);
    if (POOLING.includes(job.api)) return job.ctx.sendJson(200, poolingBody(job, reason));
    const garbage = reason !== 'abort' && (job.garbage || !st.weightsValid);
    const completionTokens = reason === 'abort' ? 0 : job.maxTokens;
    const text = reason === 'abort' ? '' : garbage ? '\u0000\u0000garbage\u0000\ufffd\ufffd' : st.drifted ? `Hello form ${model}!` : `Hello from ${model}.`;
    const usage = { prompt_tokens: job.promptTokens, total_tokens: job.promptTokens + completionTokens, completion_tokens: completionTokens, prompt_tokens_details: null };
    const created = Math.floor(Date.now() / 1000);
    const body: Record<string, unknown> = job.api === 'chat'
      ? {
          id: `chatcmpl-${randomId(32)}`,
          object: 'chat.completion',
          created,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null, annotations: null, audio: null, function_call: null, tool_calls: [], reasoning_content: null }, logprobs: null, finish_reason: reason, stop_reason: null }],
          service_tier: null,
          system_fingerprint: null,
          usage,
          prompt_logprobs: null,
          kv_transfer_params: null,
        }
      : {
          id: `cmpl-${randomId(32)}`,
          object: 'text_completion',
          created,
          model,
          choices: [{ index: 0, text, logprobs: null, finish_reason: reason, stop_reason: null, prompt_logprobs: null }],
          usage,
          kv_transfer_params: null,
        };
    if (garbage) body.fake_garbage = true; // documented marker: the weights were never reloaded
    job.ctx.sendJson(200, body);
  };

  /** vLLM's /v1/embeddings and /v1/rerank answers; an aborted pooling request still answers 200, with nothing in it. */
  const poolingBody = (job: Job, reason: 'length' | 'abort'): Record<string, unknown> => {
    const created = Math.floor(Date.now() / 1000);
    if (job.api === 'embedding') {
      const vector = reason === 'abort' || !st.weightsValid ? [] : Array.from({ length: 8 }, (_, i) => Number(Math.sin(i + job.promptTokens).toFixed(6)));
      const body: Record<string, unknown> = {
        id: `embd-${randomId(32)}`,
        object: 'list',
        created,
        model,
        data: reason === 'abort' ? [] : [{ index: 0, object: 'embedding', embedding: vector }],
        usage: { prompt_tokens: job.promptTokens, total_tokens: job.promptTokens, completion_tokens: 0, prompt_tokens_details: null },
      };
      if (!st.weightsValid) body.fake_garbage = true;
      return body;
    }
    const results = reason === 'abort' ? [] : Array.from({ length: job.documents }, (_, i) => ({ index: i, document: null, relevance_score: st.weightsValid ? 1 / (i + 2) : 0 }));
    const body: Record<string, unknown> = { id: `rerank-${randomId(32)}`, model, usage: { total_tokens: job.promptTokens }, results };
    if (!st.weightsValid) body.fake_garbage = true;
    return body;
  };

  const run = (job: Job): void => {
    job.state = 'running';
    job.startedAt = Date.now();
    if (st.cold) {
      // The first request after a start or a wake warms the server up, whoever sends it.
      st.cold = false;
      st.warmAt = job.startedAt + opts.ms('first-request-ms');
    }
    job.remainingMs = Math.max(job.remainingMs, st.warmAt - job.startedAt);
    job.timer = setTimeout(() => (job.stream ? streamTokens(job) : respond(job, 'length')), job.remainingMs);
  };

  /** vLLM's streamed answer: a `data:` chunk per token every --stream-token-ms, a last one with finish_reason, then [DONE]. */
  const streamTokens = (job: Job): void => {
    const res = job.ctx.res;
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const id = `${job.api === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomId(32)}`;
    const created = Math.floor(Date.now() / 1000);
    const words = `Hello from ${model}.`.split(' ');
    const chunk = (i: number, finish: string | null): string => {
      const text = finish ? '' : `${i > 0 ? ' ' : ''}${words[i % words.length]}`;
      const choice = job.api === 'chat' ? { index: 0, delta: finish ? {} : { content: text }, logprobs: null, finish_reason: finish } : { index: 0, text, logprobs: null, finish_reason: finish, stop_reason: null };
      return `data: ${JSON.stringify({ id, object: job.api === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model, choices: [choice] })}\n\n`;
    };
    let sent = 0;
    const next = (): void => {
      if (sent < job.maxTokens) {
        res.write(chunk(sent++, null));
        job.timer = setTimeout(next, opts.num('stream-token-ms'));
        return;
      }
      jobs.delete(job);
      res.end(`${chunk(sent, 'length')}data: [DONE]\n\n`);
    };
    next();
  };

  /** mode=keep (and level 0): a running request stops where it is and resumes after the wake. */
  const freeze = (job: Job): void => {
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
    job.remainingMs = Math.max(0, job.remainingMs - (Date.now() - job.startedAt));
    job.state = 'frozen';
  };

  /** Everything awake again: frozen requests resume, queued ones start. */
  const resumeJobs = (): void => {
    for (const job of jobs) if (job.state !== 'running') run(job);
  };

  const drained = async (): Promise<void> => {
    while (count('running') > 0) await sleep(5);
  };

  const inference = (api: Api) => async (ctx: Ctx): Promise<void> => {
    const body = await ctx.json();
    if (!body.ok || typeof body.value !== 'object' || body.value === null) {
      return ctx.sendJson(400, vllmError(body.ok ? 'Input should be a valid dictionary' : `JSON decode error: ${pythonJsonError(body.text, body.error)}`, 'Bad Request', 400));
    }
    const req = body.value as Record<string, unknown>;
    if (req.model !== undefined && req.model !== model) {
      return ctx.sendJson(404, vllmError(`The model \`${String(req.model)}\` does not exist.`, 'NotFoundError', 404, 'model'));
    }
    if (POOLING.includes(api) !== (runner === 'pooling')) return ctx.sendJson(400, vllmError(`The model does not support ${API_NAMES[api]}`, 'BadRequestError', 400));
    if (st.engineDead) return ctx.sendJson(500, vllmError('EngineCore encountered an issue. See stack trace (above) for the root cause.', 'InternalServerError', 500));
    const prompt = api === 'chat' ? JSON.stringify(req.messages ?? '') : api === 'embedding' ? JSON.stringify(req.input ?? '') : api === 'rerank' ? `${String(req.query ?? '')}${JSON.stringify(req.documents ?? [])}` : String(req.prompt ?? '');
    const maxTokens = typeof req.max_tokens === 'number' ? req.max_tokens : 16;
    const documents = Array.isArray(req.documents) ? req.documents.length : 0;
    const job: Job = { ctx, api, promptTokens: countTokens(prompt), documents, maxTokens, state: 'waiting', remainingMs: opts.ms('infer-ms'), startedAt: 0, garbage: false, stream: req.stream === true && !POOLING.includes(api) };
    ctx.res.on('close', () => {
      // The client gave up: vLLM aborts the request.
      if (job.timer) clearTimeout(job.timer);
      jobs.delete(job);
    });
    jobs.add(job);
    if (!asleep() && !st.draining) return run(job);
    if (st.draining) return; // the scheduler is paused for a draining sleep: queued
    if (policy === 'abort') return respond(job, 'abort');
    if (policy === 'crash') {
      process.stderr.write('vllm: CUDA error: an illegal memory access was encountered (request while asleep); engine dead\n');
      process.exit(1);
    }
    // hang: queued until the whole wake sequence is done
  };

  const dev = (handler: (ctx: Ctx) => Promise<void> | void) => (ctx: Ctx): Promise<void> | void =>
    opts.bool('dev-mode') ? handler(ctx) : fastApiNotFound(ctx);

  const sleepHandler = async (ctx: Ctx): Promise<void> => {
    const rawLevel = ctx.query.get('level') ?? '1';
    // int() in the handler: a non-integer is an unhandled ValueError, a plain 500.
    if (!/^\s*[+-]?\d+\s*$/.test(rawLevel) || Number(rawLevel) < 0) return ctx.send(500, 'Internal Server Error', 'text/plain; charset=utf-8');
    const level = Number(rawLevel);
    const mode = opts.bool('supports-mode-param') ? ctx.query.get('mode') ?? 'abort' : 'ignored';
    if (!['abort', 'wait', 'keep', 'ignored'].includes(mode)) return ctx.send(500, 'Internal Server Error', 'text/plain; charset=utf-8');
    await serial(async () => {
      if (st.sleepingTags.size > 0 || (level === 0 && st.paused)) {
        process.stderr.write('vllm: Executor is already sleeping.\n');
        return;
      }
      if (level === 0) {
        st.paused = true;
        for (const job of jobs) if (job.state === 'running') freeze(job);
        return;
      }
      const t0 = Date.now();
      if (mode === 'abort') for (const job of [...jobs]) if (job.state === 'running') respond(job, 'abort');
      if (mode === 'wait') {
        st.draining = true;
        try {
          await drained();
        } finally {
          st.draining = false;
        }
      }
      if (mode === 'keep') for (const job of jobs) if (job.state === 'running') freeze(job);
      if (mode === 'ignored') for (const job of jobs) if (job.state === 'running') job.garbage = true;
      await sleep(level === 1 ? opts.ms('sleep-ms-l1') : opts.ms('sleep-ms-l2'));
      const before = vramNow();
      st.sleepingTags = new Set<Tag>(['weights', 'kv_cache']);
      st.level = level >= 2 ? 2 : 1;
      if (sleepModeEnabled && st.level === 2) st.weightsValid = false;
      gpu.set(vramNow());
      process.stderr.write(`vllm: Sleep mode freed ${((before - vramNow()) / 1024).toFixed(2)} GiB memory, ${(vramNow() / 1024).toFixed(2)} GiB memory is still in use.\n`);
      process.stderr.write(`vllm: It took ${((Date.now() - t0) / 1000).toFixed(6)} seconds to fall asleep.\n`);
    });
    ctx.sendEmpty(200);
  };

  const wakeHandler = async (ctx: Ctx): Promise<void> => {
    const asked = ctx.query.getAll('tags');
    const result = await serial(async (): Promise<string | undefined> => {
      if (!asleep()) {
        process.stderr.write('vllm: Executor is not sleeping.\n');
        return undefined;
      }
      const tags = asked.length > 0 ? asked : ['weights', 'kv_cache', 'scheduling'].filter((t) => t !== 'scheduling' || st.paused).filter((t) => t === 'scheduling' || st.sleepingTags.has(t as Tag));
      for (const t of tags) {
        const isAsleep = t === 'scheduling' ? st.paused : st.sleepingTags.has(t as Tag);
        if (!isAsleep) {
          // Older vLLM ignores the whole call (#31618), still answering 200.
          process.stderr.write(`vllm: Tag ${t} is not in sleeping tags ${JSON.stringify([...st.sleepingTags])}\n`);
          return undefined;
        }
      }
      const t0 = Date.now();
      const wakeWeights = tags.includes('weights');
      const wakeKv = tags.includes('kv_cache');
      const target = sleepModeEnabled ? vramNow() + (wakeWeights ? weightsMb : 0) + (wakeKv ? kvMb : 0) : vramMb;
      if (!gpu.fits(target)) return gpu.oomMessage(target);
      gpu.set(target); // allocation shows at once
      await sleep((wakeWeights ? (st.level === 1 ? opts.ms('wake-ms-l1') : opts.ms('wake-ms-l2')) : 0) + (wakeKv ? opts.ms('wake-ms-kv') : 0));
      if (wakeWeights) {
        st.sleepingTags.delete('weights');
        st.cold = true;
      }
      if (wakeWeights && opts.bool('wake-drift')) st.drifted = true;
      if (wakeKv) st.sleepingTags.delete('kv_cache');
      if (tags.includes('scheduling')) st.paused = false;
      process.stderr.write(`vllm: It took ${((Date.now() - t0) / 1000).toFixed(6)} seconds to wake up tags ${JSON.stringify(tags)}.\n`);
      if (!asleep()) resumeJobs();
      return undefined;
    });
    if (result) return ctx.sendJson(500, vllmError(result, 'InternalServerError', 500));
    ctx.sendEmpty(200);
  };

  const rpcHandler = async (ctx: Ctx): Promise<void> => {
    const body = await ctx.json();
    if (!body.ok) return ctx.sendJson(400, vllmError(`JSON decode error: ${pythonJsonError(body.text, body.error)}`, 'Bad Request', 400));
    const req = body.value as Record<string, unknown> | null;
    const method = typeof req === 'object' && req !== null && !Array.isArray(req) ? req.method : undefined;
    if (typeof method !== 'string' || method === '') return ctx.sendJson(400, vllmError("Missing 'method' in request body", 'Bad Request', 400));
    const error = await serial(async (): Promise<string | undefined> => {
      if (method !== 'reload_weights') return undefined;
      if (st.sleepingTags.has('weights')) return 'CUDA error: an illegal memory access was encountered (reload_weights while the weights are asleep)';
      await sleep(opts.ms('reload-ms'));
      st.weightsValid = true;
      return undefined;
    });
    if (error) return ctx.sendJson(500, vllmError(error, 'InternalServerError', 500));
    ctx.sendJson(200, { results: [null] });
  };

  const metrics = (ctx: Ctx): void => {
    const m = `model_name="${model}"`;
    const sleepState = (s: string): number => {
      const now = st.sleepingTags.size === 0 ? 'awake' : st.level === 1 ? 'weights_offloaded' : 'discard_all';
      return now === s ? 1 : 0;
    };
    const lines = [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      `vllm:num_requests_running{${m}} ${count('running') + count('frozen')}`,
      '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
      '# TYPE vllm:num_requests_waiting gauge',
      `vllm:num_requests_waiting{${m}} ${count('waiting')}`,
      '# HELP vllm:engine_sleep_state Engine sleep state; awake = 0 means engine is sleeping.',
      '# TYPE vllm:engine_sleep_state gauge',
      ...['awake', 'weights_offloaded', 'discard_all'].map((s) => `vllm:engine_sleep_state{engine="0",${m},sleep_state="${s}"} ${sleepState(s)}`),
      '',
    ];
    ctx.send(200, lines.join('\n'), 'text/plain; version=0.0.4; charset=utf-8');
  };

  const routes: Route[] = [
    { method: 'POST', path: '/sleep', handler: dev(sleepHandler) },
    { method: 'POST', path: '/wake_up', handler: dev(wakeHandler) },
    { method: 'GET', path: '/is_sleeping', handler: dev((ctx) => ctx.sendJson(200, { is_sleeping: asleep() })) },
    { method: 'POST', path: '/collective_rpc', handler: dev(rpcHandler) },
    { method: 'POST', path: '/reset_prefix_cache', handler: dev((ctx) => ctx.sendEmpty(200)) },
    { method: 'GET', path: '/health', handler: (ctx) => ctx.sendEmpty(st.engineDead ? 503 : 200) },
    {
      method: 'GET',
      path: '/v1/models',
      handler: (ctx) =>
        ctx.sendJson(200, {
          object: 'list',
          data: [
            {
              id: model,
              object: 'model',
              created: Math.floor(Date.now() / 1000),
              owned_by: 'vllm',
              root: model,
              parent: null,
              max_model_len: opts.num('max-model-len'),
              permission: [{ id: `modelperm-${randomId(32)}`, object: 'model_permission', created: Math.floor(Date.now() / 1000), allow_create_engine: false, allow_sampling: true, allow_logprobs: true, allow_search_indices: false, allow_view: true, allow_fine_tuning: false, organization: '*', group: null, is_blocking: false }],
            },
          ],
        }),
    },
    { method: 'GET', path: '/version', handler: (ctx) => ctx.sendJson(200, { version: opts.str('vllm-version') }) },
    { method: 'GET', path: '/metrics', handler: metrics },
    { method: 'POST', path: '/v1/completions', handler: inference('completion') },
    { method: 'POST', path: '/v1/chat/completions', handler: inference('chat') },
    { method: 'POST', path: '/v1/embeddings', handler: inference('embedding') },
    { method: 'POST', path: '/v1/rerank', handler: inference('rerank') },
    { method: 'POST', path: '/rerank', handler: inference('rerank') },
  ];

  const server: FakeServer = new FakeServer({
    name: 'vllm',
    opts,
    routes,
    notFound: fastApiNotFound,
    methodNotAllowed: fastApiMethodNotAllowed,
    fault500: (ctx, message) => ctx.sendJson(500, vllmError(message, 'InternalServerError', 500)),
    onEngineDead: () => {
      st.engineDead = true;
    },
    onFaultsCleared: () => {
      st.engineDead = false;
    },
    state: (): Record<string, unknown> => ({
      kind: 'vllm',
      model,
      devMode: opts.bool('dev-mode'),
      isSleeping: asleep(),
      sleepingTags: [...st.sleepingTags],
      level: st.sleepingTags.size > 0 ? st.level : st.paused ? 0 : null,
      paused: st.paused,
      weightsValid: st.weightsValid,
      drifted: st.drifted,
      engineDead: st.engineDead,
      busy: st.busy > 0,
      runner,
      firstRequestPending: st.cold,
      vramMb: gpu.usedMb,
      gpuPid: engine.pids[0],
      ...(cards.length > 1 ? { gpus: cards, gpuPids: engine.pids, vramByGpu: engine.shares(gpu.usedMb) } : {}),
      running: count('running'),
      waiting: count('waiting'),
      frozen: count('frozen'),
      listening: server.listening,
    }),
  });
  server.onShutdown((lag) => {
    shuttingDown = true;
    gpu.set(0, lag);
    engine.kill();
  });

  // Cold start: import torch, load the weights (the memory shows), then serve.
  const startup = opts.ms('startup-ms');
  await sleep(startup * 0.7);
  if (!gpu.fits(vramMb)) {
    process.stderr.write(`vllm: torch.OutOfMemoryError: ${gpu.oomMessage(vramMb)}\n`);
    process.exit(1);
  }
  gpu.set(vramMb);
  await sleep(startup * 0.3);
  await server.listen();
}

main().catch((err: unknown) => {
  process.stderr.write(`vllm: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
