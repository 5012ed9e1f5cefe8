// Fake server for the `systemd` driver (start/stop only): it holds --vram-mb from start until it
// exits and answers GET /health. The memory is held by the process itself.
//   node out/test/fakes/plainServer.js --port 0 --startup-ms 0 --vram-mb 3000 --gpu-dir /tmp/gpu
import { FakeGpu } from './lib/common';
import { FakeServer, fastApiMethodNotAllowed, fastApiNotFound, sleep } from './lib/fakeServer';
import { commonOptions, parseOptions, type OptionSpec } from './lib/options';

const SPECS: OptionSpec[] = [
  ...commonOptions({ port: 8000, startupMs: 1000, stopMs: 1000 }),
  { name: 'vram-mb', kind: 'int', default: 3000, help: 'VRAM held from start until exit' },
];

const SUMMARY = `Plain fake server: GET /health 200 {"status":"ok"}; holds --vram-mb while it runs.
Faults: ENDPOINT:KIND[:AFTER_N[:TIMES]]. Runtime control: POST/DELETE /_fake/fault, GET /_fake/state.`;

async function main(): Promise<void> {
  const opts = parseOptions('plainServer', SUMMARY, SPECS, process.argv.slice(2));
  const gpu = new FakeGpu(opts, process.pid);
  if (!gpu.fits(opts.num('vram-mb'))) {
    process.stderr.write(`plainServer: ${gpu.oomMessage(opts.num('vram-mb'))}\n`);
    process.exit(1);
  }
  gpu.set(opts.num('vram-mb')); // taken at start: a cold start loads first, then serves
  let engineDead = false;
  const server: FakeServer = new FakeServer({
    name: 'plainServer',
    opts,
    routes: [{ method: 'GET', path: '/health', handler: (ctx) => (engineDead ? ctx.sendJson(503, { status: 'error' }) : ctx.sendJson(200, { status: 'ok' })) }],
    notFound: fastApiNotFound,
    methodNotAllowed: fastApiMethodNotAllowed,
    fault500: (ctx, message) => ctx.sendJson(500, { detail: message }),
    onEngineDead: () => {
      engineDead = true;
    },
    onFaultsCleared: () => {
      engineDead = false;
    },
    state: (): Record<string, unknown> => ({ kind: 'plainServer', vramMb: gpu.usedMb, gpuPid: process.pid, engineDead, listening: server.listening }),
  });
  server.onShutdown((lag) => gpu.set(0, lag));
  await sleep(opts.ms('startup-ms'));
  await server.listen();
}

main().catch((err: unknown) => {
  process.stderr.write(`plainServer: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
