// Fake llama.cpp llama-server in router mode, shaped after the recordings in
// test/fixtures/llama-server/ (key order, error bodies, async load/unload, LRU, idle sleep, SSE).
// Each loaded model is a child process (titled llama-server, listening on its own port) that holds
// the model's VRAM, as real router children do. Runnable standalone:
//   node out/test/fakes/llamaRouter.js --port 0 --models tiny-a,tiny-b --models-max 2 --load-ms 200
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { countTokens, FakeGpu, randomId } from './lib/common';
import { Ctx, FakeServer, sleep, type Handler, type Route } from './lib/fakeServer';
import { spawnHolder, type Holder } from './lib/holder';
import { commonOptions, parseOptions, type OptionSpec } from './lib/options';

const SPECS: OptionSpec[] = [
  ...commonOptions({ port: 8080, startupMs: 100, stopMs: 1400 }),
  { name: 'models', kind: 'string', help: 'comma-separated model names (as if NAME.gguf were in --models-dir)' },
  { name: 'models-dir', kind: 'string', help: 'scan DIR for *.gguf files (named without .gguf) and subdirectories holding one' },
  { name: 'models-max', kind: 'int', default: 4, help: 'models loaded at once before the least recently used is unloaded; 0 = unlimited' },
  { name: 'no-models-autoload', kind: 'flag', help: 'inference for a model not loaded answers 400 "model is not loaded"' },
  { name: 'load-ms', kind: 'number', default: 17000, help: 'POST /models/load until status loaded (real 17-54 s; tiny models ~0.2 s)' },
  { name: 'wake-ms', kind: 'number', help: 'sleeping until loaded again [default --load-ms]' },
  { name: 'unload-ms', kind: 'number', default: 200, help: 'POST /models/unload until status unloaded and the memory freed' },
  { name: 'fail-models', kind: 'string', default: '', help: 'comma list of models whose load fails (~--fail-ms after the load answers; exit_code 1)' },
  { name: 'fail-ms', kind: 'number', default: 1000, help: 'how long a failing load takes to fail' },
  { name: 'infer-ms', kind: 'number', default: 20, help: 'time to answer an inference request once loaded' },
  { name: 'sleep-idle-seconds', kind: 'number', default: -1, help: 'idle seconds until a loaded model sleeps (-1 = never)' },
  { name: 'model-vram-mb', kind: 'int', default: 20000, help: 'VRAM of a loaded model (its child process)' },
  { name: 'vram-mb-per-model', kind: 'list', default: [], help: 'NAME=MB[,NAME=MB], repeatable: VRAM of one model' },
  { name: 'sleeping-vram-mb', kind: 'int', default: 500, help: 'VRAM a sleeping model\'s child keeps (CUDA context)' },
  { name: 'router-vram-mb', kind: 'int', default: 0, help: 'VRAM held by the router process itself' },
];

const SUMMARY = `Fake llama-server in router mode. Faults: ENDPOINT:KIND[:AFTER_N[:TIMES]] (e.g. /models/load:500).
Runtime control: POST /_fake/fault, DELETE /_fake/fault, GET /_fake/state,
POST /_fake/kill-model {"model":"X"} (SIGKILLs the child: status unloaded, failed, exit_code 1).`;

type Status = 'unloaded' | 'loading' | 'loaded' | 'sleeping';

interface Model {
  id: string;
  path: string;
  vramMb: number;
  status: Status;
  failed: boolean;
  exitCode?: number;
  /** The child's port; "0" in args until the first load, then the last one (as recorded). */
  port: number;
  lastUsed: number;
  /** Bumped by every unload or failure, so a pending load/wake knows it was overtaken. */
  gen: number;
  unloading: boolean;
  child?: Holder;
  gpu?: FakeGpu;
  waiters: Array<(error?: string) => void>;
  idleTimer?: NodeJS.Timeout;
  tasks: number;
}

const LLAMA_BIN = '/opt/llama.cpp/bin/llama-server';
const META = { vocab_type: 1, n_vocab: 355, n_ctx: 512, n_ctx_train: 512, n_embd: 64, n_params: 127680, size: 510720, ftype: 'all F32' };

/** llama.cpp's format_error_response. */
function llamaError(code: number, message: string, type = 'invalid_request_error'): unknown {
  return { error: { code, message, type } };
}
const JSON_CT = 'application/json; charset=utf-8';
// The generic 404 of llama-server (httplib's handler), with its own key order; load of an unknown model answers it too.
const notFound: Handler = (ctx) => ctx.sendJson(404, { error: { message: 'File Not Found', type: 'not_found_error', code: 404 } }, JSON_CT);

function discoverModels(list: string | undefined, dir: string | undefined): Array<{ id: string; path: string }> {
  const found = new Map<string, string>();
  const base = dir ?? '/srv/llm/models';
  for (const name of (list ?? '').split(',').map((s) => s.trim()).filter(Boolean)) found.set(name, join(base, `${name}.gguf`));
  if (dir) {
    for (const entry of readdirSync(dir).sort()) {
      const full = join(dir, entry);
      if (statSync(full).isDirectory()) {
        const first = readdirSync(full).filter((f) => f.endsWith('.gguf') && !f.startsWith('mmproj')).sort()[0];
        if (first) found.set(entry, join(full, first));
      } else if (entry.endsWith('.gguf')) found.set(entry.slice(0, -'.gguf'.length), full);
    }
  }
  return [...found].map(([id, path]) => ({ id, path }));
}

function parsePerModel(entries: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of entries.flatMap((e) => e.split(','))) {
    const [name, mb] = item.split('=');
    if (!name || !Number.isFinite(Number(mb))) throw new Error(`--vram-mb-per-model: expected NAME=MB, got ${JSON.stringify(item)}`);
    out.set(name.trim(), Number(mb));
  }
  return out;
}

async function main(): Promise<void> {
  const opts = parseOptions('llamaRouter', SUMMARY, SPECS, process.argv.slice(2));
  const perModel = parsePerModel(opts.list('vram-mb-per-model'));
  const failModels = new Set(opts.str('fail-models').split(',').map((s) => s.trim()).filter(Boolean));
  const modelsMax = opts.num('models-max');
  const autoloadDefault = !opts.bool('no-models-autoload');
  const idleMs = opts.num('sleep-idle-seconds') < 0 ? -1 : opts.scale(opts.num('sleep-idle-seconds') * 1000);
  const wakeMs = opts.has('wake-ms') ? opts.ms('wake-ms') : opts.ms('load-ms');
  let shuttingDown = false;

  const models = new Map<string, Model>();
  for (const { id, path } of discoverModels(opts.optStr('models'), opts.optStr('models-dir'))) {
    models.set(id, { id, path, vramMb: perModel.get(id) ?? opts.num('model-vram-mb'), status: 'unloaded', failed: false, port: 0, lastUsed: 0, gen: 0, unloading: false, waiters: [], tasks: 0 });
  }
  const routerGpu = new FakeGpu(opts, process.pid, 'llama-server');
  if (opts.num('router-vram-mb') > 0) routerGpu.set(opts.num('router-vram-mb'));

  // --- /models/sse: per connection, the first event about a model is "model_status", later ones "status_change".
  const sseClients = new Set<{ res: ServerResponse; seen: Set<string> }>();
  const emit = (m: Model, data: string): void => {
    for (const c of sseClients) {
      const event = c.seen.has(m.id) ? 'status_change' : 'model_status';
      c.seen.add(m.id);
      c.res.write(`data: {"model":${JSON.stringify(m.id)},"event":"${event}","data":${data}}\n\n`);
    }
  };
  // Written by hand to keep "value":0.0 as the recording has it.
  const progress = (value: '0.0' | '1.0'): string => `{"status":"loading","progress":{"stages":["text_model"],"current":"text_model","value":${value}}}`;

  const args = (m: Model): string[] => [LLAMA_BIN, '--host', '127.0.0.1', '--port', String(m.port), '--no-webui', '--alias', m.id, '--ctx-size', '512', '--model', m.path, '--parallel', '1', '--threads', '1'];
  const preset = (m: Model): string => `[${m.id}]\nwebui = 0\nctx-size = 512\nmodel = ${m.path}\nparallel = 1\nthreads = 1\n\n`;
  const modelJson = (m: Model): Record<string, unknown> => {
    const status: Record<string, unknown> = { value: m.status, args: args(m), preset: preset(m) };
    if (m.failed) {
      status.exit_code = m.exitCode ?? 1;
      status.failed = true;
    }
    const out: Record<string, unknown> = {
      id: m.id,
      aliases: [],
      tags: [],
      object: 'model',
      owned_by: 'llamacpp',
      created: Math.floor(Date.now() / 1000),
      status,
      architecture: { input_modalities: ['text'], output_modalities: ['text'] },
      source: 'models_dir',
      can_remove: false,
    };
    // The child's own /v1/models info, only while a child runs and has loaded.
    if (m.child && (m.status === 'loaded' || m.status === 'sleeping')) out.meta = META;
    return out;
  };

  const settle = (m: Model, error?: string): void => {
    const waiters = m.waiters.splice(0);
    for (const w of waiters) w(error);
  };
  const waitReady = (m: Model): Promise<string | undefined> => new Promise((resolve) => m.waiters.push(resolve));

  const armIdle = (m: Model): void => {
    if (m.idleTimer) clearTimeout(m.idleTimer);
    m.idleTimer = undefined;
    if (idleMs < 0 || m.tasks > 0 || m.status !== 'loaded') return;
    m.idleTimer = setTimeout(() => {
      if (m.status !== 'loaded' || m.tasks > 0) return;
      m.status = 'sleeping';
      m.gpu?.set(Math.min(opts.num('sleeping-vram-mb'), m.vramMb));
      emit(m, '{"status":"sleeping"}');
    }, idleMs);
  };

  /** A child that exits without being asked to (crash, SIGKILL, failed load) reads as a failed load. */
  const onChildExit = (m: Model, child: Holder, code: number | null): void => {
    if (shuttingDown || m.child !== child) return; // an exit we asked for
    m.child = undefined;
    m.gen++;
    m.status = 'unloaded';
    m.failed = true;
    m.exitCode = code === null || code === 0 ? 1 : code;
    if (m.idleTimer) clearTimeout(m.idleTimer);
    process.stderr.write(`llamaRouter: model ${m.id} child ${child.pid} exited with ${code}; marked failed\n`);
    emit(m, JSON.stringify({ status: 'unloaded', exit_code: m.exitCode }));
    settle(m, `model name=${m.id} failed to load`);
  };

  const unload = async (m: Model): Promise<void> => {
    if (m.unloading) return;
    m.unloading = true;
    m.gen++;
    if (m.idleTimer) clearTimeout(m.idleTimer);
    const unloadMs = opts.ms('unload-ms');
    m.gpu?.set(0, server.releaseLag(unloadMs)); // the memory shows freed when the child is gone
    await sleep(unloadMs);
    const child = m.child;
    m.child = undefined;
    child?.exit(0);
    m.unloading = false;
    m.status = 'unloaded';
    emit(m, '{"status":"unloaded","exit_code":0}');
    settle(m, `model ${m.id} was unloaded`);
  };

  /** A load still under way is not unloaded but killed (as observed): it reads as failed, exit code 1. */
  const forceKill = (m: Model): void => {
    if (m.child) return m.child.kill('SIGKILL'); // onChildExit marks it failed
    m.gen++;
    m.status = 'unloaded';
    m.failed = true;
    m.exitCode = 1;
    emit(m, JSON.stringify({ status: 'unloaded', exit_code: 1 }));
    settle(m, `model name=${m.id} failed to load`);
  };

  const evictForLoad = (m: Model): void => {
    if (modelsMax <= 0) return;
    const active = [...models.values()].filter((o) => o !== m && !o.unloading && o.status !== 'unloaded');
    if (active.length < modelsMax) return;
    active.sort((a, b) => a.lastUsed - b.lastUsed);
    for (const victim of active.slice(0, active.length - modelsMax + 1)) {
      process.stderr.write(`llamaRouter: models-max ${modelsMax} reached, unloading least recently used ${victim.id}\n`);
      if (victim.status === 'loading') forceKill(victim);
      else void unload(victim);
    }
  };

  const startLoad = async (m: Model): Promise<void> => {
    const gen = ++m.gen;
    m.status = 'loading';
    m.failed = false;
    m.exitCode = undefined;
    emit(m, '{"status":"loading"}');
    evictForLoad(m);
    let child: Holder;
    try {
      // Titled with its command line, as the router spawns it: gpumod tells the models apart by it.
      child = await spawnHolder(['llama-server', ...args(m).slice(1)].join(' '), { listen: true });
    } catch (err) {
      process.stderr.write(`llamaRouter: could not start a child for ${m.id}: ${(err as Error).message}\n`);
      m.status = 'unloaded';
      m.failed = true;
      m.exitCode = 1;
      settle(m, `model name=${m.id} failed to load`);
      return;
    }
    if (m.gen !== gen || shuttingDown) return child.exit(0);
    m.child = child;
    m.port = child.port;
    m.gpu = new FakeGpu(opts, child.pid, 'llama-server');
    void child.exited.then((code) => onChildExit(m, child, code));
    emit(m, progress('0.0'));
    if (failModels.has(m.id) || !m.gpu.fits(m.vramMb)) {
      if (!failModels.has(m.id)) process.stderr.write(`[${child.port}] llama_model_load: error loading model: ${m.gpu.oomMessage(m.vramMb)}\n`);
      await sleep(opts.ms('fail-ms'));
      if (m.gen === gen) child.exit(1); // onChildExit marks it failed
      return;
    }
    m.gpu.set(m.vramMb);
    await sleep(opts.ms('load-ms'));
    if (m.gen !== gen) return;
    emit(m, progress('1.0'));
    m.status = 'loaded';
    const info = { id: m.id, aliases: [m.id], tags: [], object: 'model', created: Math.floor(Date.now() / 1000), owned_by: 'llamacpp', meta: META };
    emit(m, JSON.stringify({ status: 'loaded', info }));
    settle(m);
    armIdle(m);
  };

  const wake = async (m: Model): Promise<void> => {
    const gen = m.gen;
    m.status = 'loading';
    emit(m, progress('0.0'));
    m.gpu?.set(m.vramMb);
    await sleep(wakeMs);
    if (m.gen !== gen) return;
    emit(m, progress('1.0'));
    m.status = 'loaded';
    emit(m, '{"status":"loaded"}');
    settle(m);
    armIdle(m);
  };

  /** Resolves with an error body when the model cannot be made ready. */
  const ensureLoaded = async (m: Model, autoload: boolean, wakeSleeping: boolean): Promise<{ code: number; body: unknown } | undefined> => {
    for (let round = 0; round < 3; round++) {
      while (m.unloading) await sleep(5);
      if (m.status === 'loaded' || (m.status === 'sleeping' && !wakeSleeping)) return undefined;
      if (m.status === 'sleeping') void wake(m);
      else if (m.status === 'unloaded') {
        if (!autoload) return { code: 400, body: llamaError(400, 'model is not loaded') };
        void startLoad(m);
      }
      const error = await waitReady(m);
      if (error === undefined) return undefined;
      if (m.failed) return { code: 500, body: llamaError(500, `model name=${m.id} failed to load`, 'server_error') };
      // unloaded under us (LRU): try again
    }
    return { code: 500, body: llamaError(500, `model name=${m.id} failed to load`, 'server_error') };
  };

  const autoloadFor = (ctx: Ctx): boolean => {
    const q = ctx.query.get('autoload');
    return q === null ? autoloadDefault : q === 'true' || q === '1';
  };

  const readModelName = async (ctx: Ctx): Promise<{ name?: string; error?: unknown }> => {
    const body = await ctx.json();
    if (!body.ok) return { error: llamaError(500, `[json.exception.parse_error.101] parse error: ${body.error}`, 'server_error') };
    const v = body.value as Record<string, unknown> | null;
    const name = typeof v === 'object' && v !== null ? v.model : undefined;
    return { name: typeof name === 'string' ? name : undefined };
  };

  const loadHandler = async (ctx: Ctx): Promise<void> => {
    const { name, error } = await readModelName(ctx);
    if (error) return ctx.sendJson(500, error, JSON_CT);
    const m = name === undefined ? undefined : models.get(name);
    if (!m) return notFound(ctx);
    if (m.status !== 'unloaded' || m.unloading) return ctx.sendJson(400, llamaError(400, 'model is already running'), JSON_CT);
    m.lastUsed = Date.now();
    void startLoad(m);
    ctx.sendJson(200, { success: true }, JSON_CT);
  };

  const unloadHandler = async (ctx: Ctx): Promise<void> => {
    const { name, error } = await readModelName(ctx);
    if (error) return ctx.sendJson(500, error, JSON_CT);
    const m = name === undefined ? undefined : models.get(name);
    if (!m) return ctx.sendJson(400, llamaError(400, 'model is not found'), JSON_CT);
    if (m.status === 'unloaded' || m.unloading) return ctx.sendJson(400, llamaError(400, 'model is not running'), JSON_CT);
    void unload(m);
    ctx.sendJson(200, { success: true }, JSON_CT);
  };

  const timings = (promptN: number, predictedN: number): Record<string, number> => ({
    cache_n: 0,
    prompt_n: promptN,
    prompt_ms: 1.69,
    prompt_per_token_ms: 1.69 / promptN,
    prompt_per_second: (promptN / 1.69) * 1000,
    predicted_n: predictedN,
    predicted_ms: 0.559,
    predicted_per_token_ms: 0.559 / predictedN,
    predicted_per_second: (predictedN / 0.559) * 1000,
  });

  const generationSettings = (temperature: number, nPredict: number): Record<string, unknown> => ({
    seed: 4294967295, temperature, dynatemp_range: 0.0, dynatemp_exponent: 1.0, top_k: 40, top_p: 0.949999988079071, min_p: 0.05000000074505806,
    top_n_sigma: -1.0, xtc_probability: 0.0, xtc_threshold: 0.10000000149011612, typical_p: 1.0, repeat_last_n: 64, repeat_penalty: 1.0,
    presence_penalty: 0.0, frequency_penalty: 0.0, dry_multiplier: 0.0, dry_base: 1.75, dry_allowed_length: 2, dry_penalty_last_n: 512,
    dry_sequence_breakers: ['\n', ':', '"', '*'], mirostat: 0, mirostat_tau: 5.0, mirostat_eta: 0.10000000149011612, stop: [], max_tokens: nPredict,
    n_predict: nPredict, n_keep: 0, n_discard: 0, ignore_eos: false, stream: false, logit_bias: [], n_probs: 0, min_keep: 0, grammar: '',
    grammar_lazy: false, grammar_triggers: [], preserved_tokens: [], chat_format: 'Content-only', reasoning_format: 'deepseek',
    reasoning_in_content: false, generation_prompt: '', samplers: ['penalties', 'dry', 'top_n_sigma', 'top_k', 'typ_p', 'top_p', 'min_p', 'xtc', 'temperature'],
    'speculative.types': 'none', timings_per_token: false, post_sampling_probs: false, backend_sampling: false, lora: [],
  });

  const inference = (kind: 'chat' | 'oaiCompletion' | 'completion'): Handler => async (ctx) => {
    const body = await ctx.json();
    if (!body.ok) return ctx.sendJson(500, llamaError(500, `[json.exception.parse_error.101] parse error: ${body.error}`, 'server_error'), JSON_CT);
    const req = (typeof body.value === 'object' && body.value !== null ? body.value : {}) as Record<string, unknown>;
    if (typeof req.model !== 'string' || req.model === '') return ctx.sendJson(400, llamaError(400, 'model name is missing from the request'), JSON_CT);
    const m = models.get(req.model);
    if (!m) return ctx.sendJson(400, llamaError(400, `model '${req.model}' not found`), JSON_CT);
    m.lastUsed = Date.now();
    m.tasks++;
    if (m.idleTimer) clearTimeout(m.idleTimer);
    try {
      const err = await ensureLoaded(m, autoloadFor(ctx), true);
      if (err) return ctx.sendJson(err.code, err.body, JSON_CT);
      await sleep(opts.ms('infer-ms'));
      if (!m.child) return ctx.sendJson(500, llamaError(500, `model name=${m.id} failed to load`, 'server_error'), JSON_CT);
      const created = Math.floor(Date.now() / 1000);
      const nPredict = typeof req.max_tokens === 'number' ? req.max_tokens : typeof req.n_predict === 'number' ? req.n_predict : 16;
      const prompt = kind === 'chat' ? JSON.stringify(req.messages ?? []) : String(req.prompt ?? '');
      const promptN = countTokens(prompt) + (kind === 'chat' ? 50 : 2);
      const text = ' hello from the fake'.repeat(Math.max(1, Math.ceil(nPredict / 4))).slice(0, nPredict * 3);
      const usage = { completion_tokens: nPredict, prompt_tokens: promptN, total_tokens: promptN + nPredict, prompt_tokens_details: { cached_tokens: 0 } };
      if (kind === 'chat') {
        return ctx.sendJson(200, {
          choices: [{ finish_reason: 'length', index: 0, message: { role: 'assistant', content: text } }],
          created, model: m.id, system_fingerprint: 'b0-unknown', object: 'chat.completion', usage, id: `chatcmpl-${randomId(32)}`, timings: timings(promptN, nPredict),
        }, JSON_CT);
      }
      if (kind === 'oaiCompletion') {
        return ctx.sendJson(200, {
          choices: [{ text, index: 0, logprobs: null, finish_reason: 'length' }],
          created, model: m.id, system_fingerprint: 'b0-unknown', object: 'text_completion', usage, id: `chatcmpl-${randomId(32)}`, timings: timings(promptN, nPredict),
        }, JSON_CT);
      }
      ctx.sendJson(200, {
        index: 0, content: text, tokens: [], id_slot: 0, stop: true, model: m.id, tokens_predicted: nPredict, tokens_evaluated: promptN,
        generation_settings: generationSettings(typeof req.temperature === 'number' ? req.temperature : 0.8, nPredict),
        prompt: `<s> ${prompt}`, has_new_line: false, truncated: false, stop_type: 'limit', stopping_word: '', tokens_cached: promptN + nPredict - 1,
        timings: timings(promptN, nPredict),
      }, JSON_CT);
    } finally {
      m.tasks--;
      armIdle(m);
    }
  };

  const modelProps = (m: Model): Record<string, unknown> => {
    const params = generationSettings(0.800000011920929, -1);
    for (const k of ['dry_sequence_breakers', 'stop', 'logit_bias', 'grammar', 'grammar_lazy', 'grammar_triggers', 'preserved_tokens']) delete params[k];
    params.dry_penalty_last_n = -1;
    params.reasoning_format = 'none';
    return {
      default_generation_settings: { params, n_ctx: 512 },
      total_slots: 1,
      model_alias: m.id,
      model_ftype: 'all F32',
      model_path: m.path,
      modalities: { vision: false, video: false, audio: false },
      media_marker: `<__media_${randomId(32)}__>`,
      endpoint_slots: true,
      endpoint_props: false,
      endpoint_metrics: false,
      ui: false,
      ui_settings: {},
      chat_template: "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      chat_template_caps: { supports_object_arguments: false, supports_parallel_tool_calls: false, supports_preserve_reasoning: false, supports_string_content: true, supports_system_role: true, supports_tool_calls: false, supports_tools: false, supports_typed_content: false },
      bos_token: '<s>',
      eos_token: '</s>',
      build_info: 'b0-unknown',
      is_sleeping: m.status === 'sleeping',
      cors_proxy_enabled: false,
    };
  };

  const propsHandler: Handler = async (ctx) => {
    const name = ctx.query.get('model');
    if (name === null) {
      return ctx.sendJson(200, {
        role: 'router', max_instances: modelsMax, models_autoload: autoloadDefault, model_alias: 'llama-server', model_path: 'none',
        default_generation_settings: { params: null, n_ctx: 0 }, ui_settings: {}, build_info: 'b0-unknown', cors_proxy_enabled: false,
      }, JSON_CT);
    }
    const m = models.get(name);
    if (!m) return ctx.sendJson(400, llamaError(400, `model '${name}' not found`), JSON_CT);
    // A GET with model= autoloads, but /props does not wake a sleeping model nor reset its idle timer.
    const err = await ensureLoaded(m, autoloadFor(ctx), false);
    if (err) return ctx.sendJson(err.code, err.body, JSON_CT);
    ctx.sendJson(200, modelProps(m), JSON_CT);
  };

  const sseHandler: Handler = (ctx) => {
    ctx.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    ctx.res.flushHeaders();
    const client = { res: ctx.res, seen: new Set<string>() };
    sseClients.add(client);
    ctx.res.on('close', () => sseClients.delete(client));
  };

  const listModels: Handler = (ctx) => ctx.sendJson(200, { data: [...models.values()].map(modelJson), object: 'list' }, JSON_CT);
  const health: Handler = (ctx) => ctx.sendJson(200, { status: 'ok' }, JSON_CT);

  const routes: Route[] = [
    { method: 'GET', path: '/health', handler: health },
    { method: 'GET', path: '/v1/health', handler: health },
    { method: 'GET', path: '/models', handler: listModels },
    { method: 'GET', path: '/v1/models', handler: listModels },
    { method: 'POST', path: '/models/load', handler: loadHandler },
    { method: 'POST', path: '/models/unload', handler: unloadHandler },
    { method: 'GET', path: '/models/sse', handler: sseHandler },
    { method: 'GET', path: '/props', handler: propsHandler },
    { method: 'POST', path: '/v1/chat/completions', handler: inference('chat') },
    { method: 'POST', path: '/chat/completions', handler: inference('chat') },
    { method: 'POST', path: '/v1/completions', handler: inference('oaiCompletion') },
    { method: 'POST', path: '/completions', handler: inference('oaiCompletion') },
    { method: 'POST', path: '/completion', handler: inference('completion') },
  ];

  const server: FakeServer = new FakeServer({
    name: 'llamaRouter',
    opts,
    routes,
    notFound,
    methodNotAllowed: notFound, // httplib has no 405: an unmatched method is a 404
    fault500: (ctx, message) => ctx.sendJson(500, llamaError(500, message, 'server_error'), JSON_CT),
    state: (): Record<string, unknown> => ({
      kind: 'llamaRouter',
      modelsMax,
      autoload: autoloadDefault,
      models: [...models.values()].map((m) => ({
        id: m.id, status: m.status, failed: m.failed, exitCode: m.exitCode ?? null, unloading: m.unloading,
        childPid: m.child?.pid ?? null, childPort: m.child?.port ?? null, vramMb: m.gpu?.usedMb ?? 0, lastUsed: m.lastUsed, tasks: m.tasks,
      })),
      routerVramMb: routerGpu.usedMb,
      sseClients: sseClients.size,
      listening: server.listening,
    }),
    control: [
      {
        method: 'POST',
        path: '/_fake/kill-model',
        handler: async (ctx) => {
          const { name } = await readModelName(ctx);
          const m = name === undefined ? undefined : models.get(name);
          const child = m?.child;
          if (!child) return ctx.sendJson(400, { error: `model ${String(name)} has no child` });
          child.kill('SIGKILL');
          await child.exited;
          ctx.sendJson(200, { killed: child.pid });
        },
      },
    ],
  });

  process.on('exit', () => {
    for (const m of models.values()) m.child?.kill();
  });
  server.onShutdown((lag) => {
    shuttingDown = true;
    for (const m of models.values()) {
      m.gpu?.set(0, lag);
      m.child?.exit(0);
    }
    routerGpu.set(0, lag);
    for (const c of sseClients) c.res.destroy();
  });

  await sleep(opts.ms('startup-ms'));
  await server.listen();
}

main().catch((err: unknown) => {
  process.stderr.write(`llamaRouter: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
