// The gateway's part of the bench (issue 16): `gpumod gateway` as its own process in front of the
// profile workstation on the 32 GB card. Measures what a client sees: the latency the gateway adds on
// an awake model (p50 and p99, against the same requests sent directly), streamed tokens per second
// through it against direct, and the time to first token of a request that finds its model awake,
// asleep (L1) or stopped, against a stop/start gateway's cold start on request.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type { ProfileService } from '../../demo/profile';
import { serviceAction, switchMode } from '../../src/engine/switcher';
import type { Goal } from './_goals';
import { benchWorkstation } from './_workstation';
import { REPO } from '../../demo/workstation';

const SERVICE = 'vllm-chat';
const MODEL = 'chat-2b-vl';
/** Requests of the added-latency measure, half direct and half through the gateway, interleaved. */
const LATENCY_REQUESTS = 600;
const STREAM_TOKENS = 500;
const RUNS = 5;

export interface GatewayFigures {
  /** One-token completions on the awake model, ms. */
  direct: { p50: number; p99: number };
  gateway: { p50: number; p99: number };
  addedP50Ms: number;
  addedP99Ms: number;
  /** Streamed tokens per second (first token to last), medians. */
  directTokensPerS: number;
  gatewayTokensPerS: number;
  /** Time to first token through the gateway, medians of RUNS, ms. */
  ttft: { awake: number; asleepL1: number; stopped: number; naiveStopStart: number };
  /** What the fake itself takes for the asleep case: its L1 wake and the first request after a wake. */
  wakeMs: number;
  firstRequestMs: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const median = (xs: number[]): number => percentile(xs, 50);

/** POSTs `body`; resolves with the time to the first byte of an answer token and to the end (ms, from the send), and the token count. */
function timed(port: number, path: string, body: unknown): Promise<{ firstMs: number; endMs: number; tokens: number; status: number; text: string }> {
  const data = Buffer.from(JSON.stringify(body));
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      let firstMs: number | undefined;
      let text = '';
      let tokens = 0;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        const data = (c.match(/^data: \{/gm) ?? []).length;
        tokens += data;
        if (firstMs === undefined && (data > 0 || text.includes('"choices"'))) firstMs = performance.now() - t0;
      });
      res.on('end', () => resolve({ firstMs: firstMs ?? performance.now() - t0, endMs: performance.now() - t0, tokens, status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(120_000, () => req.destroy(new Error('no answer within 120 s')));
    req.end(data);
  });
}

async function ok<T extends { status: number; text: string }>(what: string, p: Promise<T>): Promise<T> {
  const r = await p;
  if (r.status !== 200) throw new Error(`gateway bench: ${what} answered ${r.status}: ${r.text.slice(0, 300)}`);
  return r;
}

/** A fake's duration option in ms as it runs (divided by the time scale). */
function fakeMs(svc: ProfileService, option: string, timeScale: number): number {
  const i = svc.args.lastIndexOf(`--${option}`);
  return i >= 0 ? Number(svc.args[i + 1]) / timeScale : 0;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gateway bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const answers = (port: number, path: string): Promise<boolean> =>
  new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  });

export async function gatewayBench(sandbox: string, portBase: number, services: ProfileService[], timeScale: number, progress: (text: string) => void): Promise<GatewayFigures> {
  // Tokens streamed every 2 ms and answers without inference time: what remains is the path, not the model.
  const { ws, config, mc } = await benchWorkstation(sandbox, 'bench-gateway', {
    timeScale,
    card: '32',
    portBase,
    unitPrefix: 'benchgw-',
    profile: services,
    extraArgs: { [SERVICE]: ['--stream-token-ms', '2', '--infer-ms', '0'] },
  });
  const gatewayPort = portBase + services.length;
  const direct = ws.ports.get(SERVICE) as number;
  let gateway: ChildProcess | undefined;
  try {
    const r = await switchMode(config, 'rag', mc.ports);
    if (!r.ok) throw new Error(`gateway bench: switch to rag: ${r.message}`);
    gateway = spawn(process.execPath, [join(REPO, 'dist/cli.js'), 'gateway', '--port', String(gatewayPort)], { env: { ...process.env, ...ws.env, GPUMOD_CONFIG: ws.configPath }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    gateway.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    await until('the gateway to answer', () => answers(gatewayPort, '/v1/models'), 30_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${stderr}`);
    });
    const one = { model: MODEL, prompt: 'Hello', max_tokens: 1 };
    const stream = { model: MODEL, prompt: 'Hello', max_tokens: STREAM_TOKENS, stream: true };
    // Warm both paths (the server's first request, the gateway's first look, the sockets).
    for (let i = 0; i < 20; i++) {
      await ok('warm-up direct', timed(direct, '/v1/completions', one));
      await ok('warm-up gateway', timed(gatewayPort, '/v1/completions', one));
    }

    progress('gateway: added latency on an awake model');
    const d: number[] = [];
    const g: number[] = [];
    for (let i = 0; i < LATENCY_REQUESTS / 2; i++) {
      d.push((await ok('direct', timed(direct, '/v1/completions', one))).endMs);
      g.push((await ok('gateway', timed(gatewayPort, '/v1/completions', one))).endMs);
    }

    progress('gateway: streamed throughput');
    const rate = async (port: number): Promise<number> => {
      const s = await ok('stream', timed(port, '/v1/completions', stream));
      return ((s.tokens - 1) * 1000) / Math.max(1e-3, s.endMs - s.firstMs);
    };
    // Both at once, from the same server: its pacing and the machine's noise fall on both alike.
    const dRates: number[] = [];
    const gRates: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const [x, y] = await Promise.all([rate(direct), rate(gatewayPort)]);
      dRates.push(x);
      gRates.push(y);
    }

    progress('gateway: time to first token (awake, asleep L1, stopped, naive stop/start)');
    const first = { ...stream, max_tokens: 1 };
    const ttft = async (before: () => Promise<unknown>): Promise<number> => {
      const xs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        await before();
        xs.push((await ok('first token', timed(gatewayPort, '/v1/completions', first))).firstMs);
      }
      return median(xs);
    };
    const act = (action: 'sleep' | 'stop'): Promise<unknown> => serviceAction(config, SERVICE, action, mc.ports);
    const awake = await ttft(async () => undefined);
    const asleepL1 = await ttft(() => act('sleep'));
    const stopped = await ttft(() => act('stop'));
    // A gateway that stops and cold-starts (llama-swap, Ollama with vLLM): start the unit on the request, wait for health, ask.
    const naive: number[] = [];
    const unit = config.services.get(SERVICE)?.unit as string;
    for (let i = 0; i < 1; i++) {
      await act('stop');
      const t0 = performance.now();
      await mc.systemd.start(unit, { timeoutMs: 120_000 });
      await until(`${SERVICE} healthy`, () => answers(direct, '/health'), 120_000);
      const r = await ok('naive first token', timed(direct, '/v1/completions', first));
      naive.push(performance.now() - t0 - r.endMs + r.firstMs);
    }
    const chat = services.find((s) => s.name === SERVICE) as ProfileService;
    return {
      direct: { p50: median(d), p99: percentile(d, 99) },
      gateway: { p50: median(g), p99: percentile(g, 99) },
      addedP50Ms: median(g) - median(d),
      addedP99Ms: percentile(g, 99) - percentile(d, 99),
      directTokensPerS: median(dRates),
      gatewayTokensPerS: median(gRates),
      ttft: { awake, asleepL1, stopped, naiveStopStart: median(naive) },
      wakeMs: fakeMs(chat, 'wake-ms-l1', timeScale),
      firstRequestMs: fakeMs(chat, 'first-request-ms', timeScale),
    };
  } finally {
    gateway?.kill('SIGTERM');
    if (gateway && gateway.exitCode === null) await new Promise((r) => gateway?.once('exit', r));
    agent.destroy();
    await mc.close();
    await ws.teardown();
  }
}

const ADDED_P50_MS = 1;
const ADDED_P99_MS = 5;
const THROUGHPUT = 0.99;
const WAKE_SLACK_MS = 100;

export function gatewayGoals(f: GatewayFigures): Goal[] {
  const ms = (x: number): string => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
  const asleepOwn = f.wakeMs + f.firstRequestMs;
  return [
    {
      name: `gateway: added latency on an awake model p50 ≤ ${ADDED_P50_MS} ms, p99 ≤ ${ADDED_P99_MS} ms`,
      pass: f.addedP50Ms <= ADDED_P50_MS && f.addedP99Ms <= ADDED_P99_MS,
      detail: `p50 +${ms(f.addedP50Ms)} (${ms(f.gateway.p50)} vs ${ms(f.direct.p50)} direct), p99 +${ms(f.addedP99Ms)} (${ms(f.gateway.p99)} vs ${ms(f.direct.p99)})`,
    },
    {
      name: `gateway: streamed throughput ≥ ${THROUGHPUT * 100}% of direct`,
      pass: f.gatewayTokensPerS >= THROUGHPUT * f.directTokensPerS,
      detail: `${f.gatewayTokensPerS.toFixed(0)} tokens/s vs ${f.directTokensPerS.toFixed(0)} direct (${((100 * f.gatewayTokensPerS) / f.directTokensPerS).toFixed(1)}%)`,
    },
    {
      name: `gateway: a request that finds its model asleep (L1) answered within the wake + ${WAKE_SLACK_MS} ms (beside the server's own first answer after a wake)`,
      pass: f.ttft.asleepL1 <= asleepOwn + WAKE_SLACK_MS,
      detail: `first token after ${ms(f.ttft.asleepL1)}; the server's wake ${ms(f.wakeMs)} + its first answer ${ms(f.firstRequestMs)}; awake ${ms(f.ttft.awake)}, stopped ${ms(f.ttft.stopped)}, naive stop/start ${ms(f.ttft.naiveStopStart)} (${(f.ttft.naiveStopStart / f.ttft.asleepL1).toFixed(0)}x the asleep case)`,
    },
  ];
}
