// The bench's two latency profiles and the critical path it computes from whichever ran: the H100
// figures follow anchors.md, every fake accepts its profile's options, and the critical path adds
// what the profile says each step takes (plus the readiness warm-up and the fakes' process start).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { H100_PROFILE } from '../../../demo/h100Latency';
import { PROFILE, type ProfileService } from '../../../demo/profile';
import { fakePath } from '../../fakes/lib/spawnFake';
import { criticalPathMs, option, slowestWakeMs, type BenchStep, type LatencyModel } from '../../bench/_latency';
import { measure } from '../../bench/_report';
import type { Run } from '../../bench/_strategies';

const model = (services: ProfileService[], timeScale: number, extra: Partial<LatencyModel> = {}): LatencyModel => ({
  services,
  timeScale,
  spawnMs: {},
  holderMs: 0,
  readiness: new Set(),
  ...extra,
});

/** 32 GB code → rag: glm-code unloads, chat wakes from L1, reranker and hyde from L2. */
const CODE_TO_RAG: BenchStep[] = [
  { service: 'glm-code', action: 'sleep', depth: 'l1' },
  { service: 'vllm-chat', action: 'wake', depth: 'l1' },
  { service: 'vllm-reranker', action: 'wake', depth: 'l2' },
  { service: 'vllm-hyde', action: 'wake', depth: 'l2' },
];

describe('bench profiles', () => {
  it('h100: L1 copies the weights at 55 GB/s, L2 rereads them from the page cache, a cold start is torch + a CUDA context + the weights', () => {
    const h = model(H100_PROFILE, 1);
    // vllm-chat frees 5500 MiB asleep, 40% of it KV cache: 3300 MiB of weights.
    const copyMs = (3300 * 2 ** 20) / 55e6;
    assert.equal(option(h, 'wake-ms-l1', 'vllm-chat'), Math.round(copyMs));
    assert.equal(option(h, 'sleep-ms-l1', 'vllm-chat'), Math.round(copyMs));
    // 16 GiB in 3.1 s from the page cache: hyde's 2400 MiB.
    assert.equal(option(h, 'reload-ms', 'vllm-hyde'), Math.round((2400 / (16 * 1024)) * 3100));
    assert.equal(option(h, 'wake-ms-l2', 'vllm-hyde') + option(h, 'wake-ms-kv', 'vllm-hyde'), 0);
    assert.equal(option(h, 'startup-ms', 'vllm-chat'), Math.round(4500 + 410 + (3300 / (16 * 1024)) * 3100));
    for (const s of H100_PROFILE) {
      assert.ok(option(h, 'stop-ms', s.name) >= 770 && option(h, 'stop-ms', s.name) <= 1060, `${s.name}: SIGTERM frees in 0.77-1.06 s`);
      if (s.fake !== 'llamaRouter') assert.ok(s.coldStartMs >= 4910, `${s.name}: no cold start under torch + a CUDA context`);
    }
    // What the anchors do not cover stays the workstation's: the sizes, the first request, an L2 sleep.
    for (const name of ['vram-mb', 'first-request-ms', 'infer-ms', 'sleep-ms-l2']) {
      for (const s of PROFILE.filter((p) => p.args.includes(`--${name}`))) assert.equal(option(h, name, s.name), option(model(PROFILE, 1), name, s.name), `${s.name} --${name}`);
    }
  });

  it('every fake accepts every option of both profiles', function () {
    this.timeout(20_000); // sixteen node processes, one after another
    for (const s of [...PROFILE, ...H100_PROFILE]) {
      // --help after the options: the parser rejects an unknown one (exit 2) before it prints help (exit 0).
      const r = spawnSync(process.execPath, [fakePath(s.fake), ...s.args, '--help'], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${s.name}: ${r.stderr}`);
    }
  });

  it('the critical path takes the figures of the profile that ran', () => {
    // Workstation at time scale 10: the unload (200) then the slowest wake, hyde's three steps (300 + 1200 + 100).
    assert.equal(criticalPathMs(model(PROFILE, 10), CODE_TO_RAG, false), (200 + 1600) / 10);
    // H100 at time scale 1: the unload, then hyde's reload from the page cache.
    const h = model(H100_PROFILE, 1);
    assert.equal(criticalPathMs(h, CODE_TO_RAG, false), 200 + option(h, 'reload-ms', 'vllm-hyde'));
    assert.equal(slowestWakeMs(h, CODE_TO_RAG), option(h, 'reload-ms', 'vllm-hyde'));
  });

  it('adds the readiness warm-up to a vLLM acquisition, and the fakes\' process start to starts and llama.cpp loads', () => {
    const plain = model(PROFILE, 10);
    const warmed = model(PROFILE, 10, { readiness: new Set(['vllm-chat', 'vllm-hyde']) });
    // hyde's first request (288 real ms) follows its wake: 1600 + 288.
    assert.equal(criticalPathMs(warmed, CODE_TO_RAG, false), (200 + 1600 + option(plain, 'first-request-ms', 'vllm-hyde')) / 10);
    const spawned = model(PROFILE, 10, { spawnMs: { vllm: 150, llamaRouter: 80 }, holderMs: 60 });
    const blankToCode: BenchStep[] = [
      { service: 'glm-code', action: 'load' },
      { service: 'vllm-embedding-code', action: 'start' },
    ];
    // The embedding server's 60 s start and its process, against the 30 s load and the model's child.
    assert.equal(criticalPathMs(spawned, blankToCode, false), 6000 + 150);
    assert.equal(slowestWakeMs(spawned, blankToCode), 3000 + 60);
    assert.equal(criticalPathMs(spawned, [{ service: 'glm-code', action: 'start' }], false), 10 + 3000 + 80 + 60);
  });

  it('counts the time inside nvidia-smi as overhead except while the memory waited for is not freed yet', () => {
    // A stop: the process exits at 70 ms, its memory shows freed 30 ms later (time scale 10).
    const run = (waitFreeMs: number, gpuQueryInWaitMs: number): Run => ({
      strategy: 'gpumod', from: 'speak', to: 'blank', wallMs: 400, steps: [{ service: 'vllm-tts', action: 'stop' }], waitedForFreed: true,
      gpuQueryMs: 200, waitFreeMs, gpuQueryInWaitMs, notes: [], endedAt: 0, load: 0,
    });
    const ws = model(PROFILE, 10);
    // The wait took 50 ms where the lag is 30: of its 45 ms of queries, 20 are overhead.
    assert.deepEqual(measure(ws, run(50, 45)), { critical: 100, gpu: 200 - 45 + 20 });
    // A wait no longer than the lag: its queries cost nothing.
    assert.deepEqual(measure(ws, run(30, 30)), { critical: 100, gpu: 170 });
    assert.deepEqual(measure(ws, { ...run(0, 0), waitedForFreed: false }), { critical: 70, gpu: 200 });
  });
});
