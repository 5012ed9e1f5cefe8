// Fake FastAPI app with a lazily loaded model (an ASR service) driven by HTTP hooks:
// POST /load wakes it, POST /unload puts it to sleep, GET /status tells which. The VRAM is held by
// the server process itself (a single uvicorn worker, as such apps run): the CUDA context
// (--vram-asleep-mb) from the end of start-up, the model on top of it while loaded.
//   node out/test/fakes/hookServer.js --port 0 --startup-ms 0 --load-ms 2000 --gpu-dir /tmp/gpu
import { FakeGpu } from './lib/common';
import { FakeServer, fastApiMethodNotAllowed, fastApiNotFound, sleep, type Ctx, type Route } from './lib/fakeServer';
import { commonOptions, parseOptions, type OptionSpec } from './lib/options';

const SPECS: OptionSpec[] = [
  ...commonOptions({ port: 8000, startupMs: 18000, stopMs: 1000 }),
  { name: 'load-ms', kind: 'number', default: 2000, help: 'POST /load (wake) duration' },
  { name: 'unload-ms', kind: 'number', default: 200, help: 'POST /unload (sleep) duration' },
  { name: 'infer-ms', kind: 'number', default: 100, help: 'POST /transcribe duration once loaded' },
  { name: 'vram-mb', kind: 'int', default: 2500, help: 'VRAM held while loaded' },
  { name: 'vram-asleep-mb', kind: 'int', default: 500, help: 'VRAM held while unloaded (CUDA context)' },
  { name: 'load-on-start', kind: 'onoff', default: true, help: 'start loading the model as soon as the server listens' },
  { name: 'lazy', kind: 'onoff', default: true, help: 'POST /transcribe loads the model when unloaded (off: 503)' },
];

const SUMMARY = `Fake FastAPI hook server (lazy ASR model): POST /load, POST /unload, GET /status, GET /health, POST /transcribe.
Faults: ENDPOINT:KIND[:AFTER_N[:TIMES]]. Runtime control: POST/DELETE /_fake/fault, GET /_fake/state.`;

type State = 'unloaded' | 'loading' | 'loaded';

async function main(): Promise<void> {
  const opts = parseOptions('hookServer', SUMMARY, SPECS, process.argv.slice(2));
  const gpu = new FakeGpu(opts, process.pid);
  const residueMb = Math.min(opts.num('vram-asleep-mb'), opts.num('vram-mb'));
  let state: State = 'unloaded';
  let unloading = false;
  let engineDead = false; // fault engine-dead: /health 503
  let chain: Promise<unknown> = Promise.resolve();
  // One load/unload at a time, as an asyncio.Lock in such apps does.
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };

  /** Resolves with an error message, or undefined once loaded. */
  const load = (): Promise<string | undefined> =>
    serial(async () => {
      if (state === 'loaded') return undefined;
      if (!gpu.fits(opts.num('vram-mb'))) return gpu.oomMessage(opts.num('vram-mb'));
      state = 'loading';
      gpu.set(opts.num('vram-mb'));
      await sleep(opts.ms('load-ms'));
      state = 'loaded';
      return undefined;
    });

  const unload = (): Promise<void> =>
    serial(async () => {
      if (state !== 'loaded') return;
      unloading = true;
      await sleep(opts.ms('unload-ms'));
      gpu.set(residueMb);
      state = 'unloaded';
      unloading = false;
    });

  const status = (): { loaded: boolean; state: State } => ({ loaded: state === 'loaded', state });

  const transcribe = async (ctx: Ctx): Promise<void> => {
    await ctx.body();
    if (state !== 'loaded') {
      if (!opts.bool('lazy')) return ctx.sendJson(503, { detail: 'Model not loaded' });
      const error = await load();
      if (error) return ctx.sendJson(500, { detail: error });
    }
    await sleep(opts.ms('infer-ms'));
    ctx.sendJson(200, { text: 'hello from the fake ASR model', language: 'en' });
  };

  const routes: Route[] = [
    {
      method: 'POST',
      path: '/load',
      handler: async (ctx) => {
        const error = await load();
        if (error) return ctx.sendJson(500, { detail: error });
        ctx.sendJson(200, status());
      },
    },
    {
      method: 'POST',
      path: '/unload',
      handler: async (ctx) => {
        await unload();
        ctx.sendJson(200, status());
      },
    },
    { method: 'GET', path: '/status', handler: (ctx) => ctx.sendJson(200, status()) },
    { method: 'GET', path: '/health', handler: (ctx) => (engineDead ? ctx.sendJson(503, { status: 'error' }) : ctx.sendJson(200, { status: 'ok' })) },
    { method: 'POST', path: '/transcribe', handler: transcribe },
    { method: 'POST', path: '/v1/audio/transcriptions', handler: transcribe },
  ];

  const server: FakeServer = new FakeServer({
    name: 'hookServer',
    opts,
    routes,
    notFound: fastApiNotFound,
    methodNotAllowed: fastApiMethodNotAllowed,
    fault500: (ctx, message) => ctx.sendJson(500, { detail: message }),
    onEngineDead: () => {
      engineDead = true;
    },
    onFaultsCleared: () => {
      engineDead = false;
    },
    state: (): Record<string, unknown> => ({ kind: 'hookServer', ...status(), unloading, vramMb: gpu.usedMb, gpuPid: process.pid, listening: server.listening }),
  });
  server.onShutdown((lag) => gpu.set(0, lag));

  await sleep(opts.ms('startup-ms'));
  if (!gpu.fits(residueMb)) {
    process.stderr.write(`hookServer: RuntimeError: ${gpu.oomMessage(residueMb)}\n`);
    process.exit(1);
  }
  gpu.set(residueMb);
  await server.listen();
  if (opts.bool('load-on-start')) void load();
}

main().catch((err: unknown) => {
  process.stderr.write(`hookServer: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
