// The fault matrix: every kind of switch step × every fault that can hit it, each a real `gpumod
// switch` (the CLI as a child process) on the profile workstation under the real systemd user
// manager. Each case asserts the switch ends in its target or rolled back to where it started, names
// the failing service and step, leaves state.json and history.jsonl consistent with what `gpumod
// status` then observes, and orphans no process. The matrix is printed at the end and written into
// docs/RELIABILITY.md.
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILE } from '../../../demo/profile';
import { REPO } from '../../../demo/workstation';
import { testPort } from '../support/testManager';
import {
  assertNoOrphans,
  clearFaults,
  clearStartArgs,
  cli,
  downRig,
  fakeState,
  injectFault,
  readHistory,
  readState,
  resetFailedAll,
  scaled,
  setStartArgs,
  status,
  stopUnit,
  switchTo,
  until,
  upRig,
  type FaultKind,
  type Rig,
  type StatusJson,
} from './support';

const PORT_BASE = testPort(1000);
/** A refusal outlasts the switch and its rollback, so every case sees the same thing. */
const REFUSE_MS = 4000;

type Fault = '500' | 'hang' | 'refused' | 'crash' | 'unit-fails' | 'mem-lag' | 'nvidia-smi';
const FAULTS: Array<{ key: Fault; label: string }> = [
  { key: '500', label: 'HTTP 500' },
  { key: 'hang', label: 'hang past the deadline' },
  { key: 'refused', label: 'connection refused' },
  { key: 'crash', label: 'process crash mid-step' },
  { key: 'unit-fails', label: 'unit fails to start' },
  { key: 'mem-lag', label: 'GPU memory not released in time' },
  { key: 'nvidia-smi', label: 'nvidia-smi missing or failing' },
];

interface Case {
  /** Runtime fault on the running fake (POST /_fake/fault). */
  inject?: { endpoint: string; kind: FaultKind; after?: number };
  /** Options the fake must start with (a drop-in; the unit is restarted by the set-up switches). */
  startArgs?: string[];
  /** Environment of the faulted switch only (nvidia-smi faults). */
  env?: Record<string, string>;
  /** Human summary of the injection, for the report. */
  how: string;
  /**
   * 'fail': the step fails and the switch rolls back; 'ok': the switch survives the fault and reaches its
   * target; 'unproven': a sleep whose memory does not show freed by its deadline is not a sleep: it
   * fails with the numbers, and the service stops instead where the target needs the room (the target
   * is reached), or the switch rolls back.
   */
  expect: 'fail' | 'ok' | 'unproven';
  error?: RegExp;
  /** The fault is about released memory: the switch must have waited for it (bounded) before going on. */
  waits?: boolean;
}

interface Kind {
  key: string;
  label: string;
  svc: string;
  /** Switches that put the machine where the step is needed (the last one is the switch's `from`). */
  prep: string[];
  target: string;
  /** The plan step that must be there, and the timeline action that fails. */
  step: { action: string; depth?: string };
  failAction: string;
  cases: Partial<Record<Fault, Case | string>>;
}

/** Longer than a switch, so the lag is still visible after one that did not wait for it. */
const LAG_MS = 5000;
const LAG = ['--release-lag-ms', scaled(LAG_MS)];
const TIMEOUT = /did not (finish|complete) within|not done after/;
const BROKEN = /UND_ERR_SOCKET|ECONNRESET|ECONNREFUSED|socket|closed/;

/** The four HTTP faults on one endpoint of the service's fake. */
function httpFaults(endpoint: string, opts: { after?: number; endpoints?: Partial<Record<'500' | 'hang' | 'refused' | 'crash', string>> } = {}): Partial<Record<Fault, Case>> {
  const at = (f: '500' | 'hang' | 'refused' | 'crash'): string => opts.endpoints?.[f] ?? endpoint;
  const after = (f: '500' | 'hang' | 'refused' | 'crash'): number | undefined => (opts.endpoints?.[f] && opts.endpoints[f] !== endpoint ? undefined : opts.after);
  const c = (f: '500' | 'hang' | 'refused' | 'crash', kind: FaultKind, error: RegExp): Case => {
    const a = after(f);
    return { inject: { endpoint: at(f), kind, ...(a !== undefined ? { after: a } : {}) }, how: `${at(f)}:${kind}${a ? ` after ${a}` : ''}`, expect: 'fail', error };
  };
  return { '500': c('500', '500', /answered 500/), hang: c('hang', 'hang', TIMEOUT), refused: c('refused', 'refuse', BROKEN), crash: c('crash', 'crash', BROKEN) };
}

const lagCase: Case = { startArgs: LAG, how: `--release-lag-ms ${LAG_MS / 1000} s`, expect: 'ok', waits: true };
/** A sleep's memory lagging past the sleep's 3 s deadline: the GPU does not prove the sleep. */
const unprovenSleep: Case = { startArgs: LAG, how: `--release-lag-ms ${LAG_MS / 1000} s (past the sleep's deadline)`, expect: 'unproven' };
const smi = (variant: 'missing' | 'missing-driver' | 'na' | 'hang'): Case => ({
  env: variant === 'missing' ? { GPUMOD_NVIDIA_SMI: '/nonexistent/nvidia-smi' } : { FAKE_GPU_FAIL: variant },
  how: variant === 'missing' ? 'no nvidia-smi binary' : `FAKE_GPU_FAIL=${variant}`,
  expect: 'ok',
});

const NA = {
  noStart: 'the step starts no process (see the systemctl start row)',
  acquires: 'the step takes memory; nothing is released',
  noHttpStart: 'systemctl start sends no HTTP request (the server’s answers are the health row)',
  refusedStart: 'refused connections are how a cold start is awaited; a server that never listens is the hang case',
  noHttpStop: 'a stop is systemctl only: no HTTP request',
  crashStop: 'a stop ends the process anyway: a crash while stopping is a stop',
  gpuNotAsked: 'HTTP only: nvidia-smi is not consulted by this step (its failures are in the other rows)',
};

const KINDS: Kind[] = [
  {
    key: 'sleep-l1', label: 'sleep L1 (vLLM)', svc: 'vllm-chat', prep: ['rag'], target: 'code', step: { action: 'sleep', depth: 'l1' }, failAction: 'sleep',
    cases: { ...httpFaults('/sleep'), 'unit-fails': NA.noStart, 'mem-lag': unprovenSleep, 'nvidia-smi': smi('missing') },
  },
  {
    key: 'sleep-l2', label: 'sleep L2 (vLLM)', svc: 'vllm-hyde', prep: ['rag'], target: 'code', step: { action: 'sleep', depth: 'l2' }, failAction: 'sleep',
    cases: { ...httpFaults('/sleep'), 'unit-fails': NA.noStart, 'mem-lag': unprovenSleep, 'nvidia-smi': smi('missing-driver') },
  },
  {
    key: 'wake-l1', label: 'wake L1 (vLLM)', svc: 'vllm-chat', prep: ['rag', 'code'], target: 'rag', step: { action: 'wake' }, failAction: 'wake',
    cases: { ...httpFaults('/wake_up'), 'unit-fails': NA.noStart, 'mem-lag': NA.acquires, 'nvidia-smi': smi('na') },
  },
  {
    // Mid-sequence: weights → reload_weights → kv_cache → reset_prefix_cache.
    key: 'wake-l2', label: 'wake L2 sequence (vLLM)', svc: 'vllm-hyde', prep: ['rag', 'code'], target: 'rag', step: { action: 'wake' }, failAction: 'wake',
    cases: {
      ...httpFaults('/wake_up', { after: 1, endpoints: { '500': '/collective_rpc', refused: '/reset_prefix_cache', crash: '/collective_rpc' } }),
      'unit-fails': NA.noStart, 'mem-lag': NA.acquires, 'nvidia-smi': smi('hang'),
    },
  },
  {
    key: 'load', label: 'llama.cpp load', svc: 'glm-code', prep: ['code', 'rag'], target: 'code', step: { action: 'load' }, failAction: 'load',
    cases: { ...httpFaults('/models/load'), 'unit-fails': NA.noStart, 'mem-lag': NA.acquires, 'nvidia-smi': smi('missing') },
  },
  {
    key: 'unload', label: 'llama.cpp unload', svc: 'glm-code', prep: ['code'], target: 'rag', step: { action: 'sleep', depth: 'router' }, failAction: 'sleep',
    // 2 s: past the wait for freed memory (~0.7 s), within the wakes' 3 s deadline, for which each wake
    // waits for its room (a wake never starts into memory that is not free; past its deadline it fails).
    cases: { ...httpFaults('/models/unload'), 'unit-fails': NA.noStart, 'mem-lag': { ...lagCase, startArgs: ['--release-lag-ms', scaled(2000)], how: '--release-lag-ms 2 s' }, 'nvidia-smi': smi('missing-driver') },
  },
  {
    key: 'hook-sleep', label: 'hook sleep (HTTP hooks)', svc: 'qwen3-asr', prep: ['speak'], target: 'blank', step: { action: 'sleep', depth: 'hook' }, failAction: 'sleep',
    cases: { ...httpFaults('/unload'), 'unit-fails': NA.noStart, 'mem-lag': unprovenSleep, 'nvidia-smi': smi('na') },
  },
  {
    key: 'hook-wake', label: 'hook wake (HTTP hooks)', svc: 'qwen3-asr', prep: ['speak', 'rag'], target: 'speak', step: { action: 'wake' }, failAction: 'wake',
    cases: { ...httpFaults('/load'), 'unit-fails': NA.noStart, 'mem-lag': NA.acquires, 'nvidia-smi': smi('missing') },
  },
  {
    key: 'start', label: 'systemctl start', svc: 'vllm-tts', prep: ['blank', 'rag'], target: 'speak', step: { action: 'start' }, failAction: 'start',
    cases: {
      '500': NA.noHttpStart,
      hang: { startArgs: ['--startup-ms', scaled(60_000)], how: 'never listens within the deadline (--startup-ms 60 s)', expect: 'fail', error: TIMEOUT },
      refused: NA.refusedStart,
      crash: { startArgs: ['--oom', 'on', '--gpu-total-mb', '1'], how: 'CUDA OOM while loading (--oom on)', expect: 'fail', error: /exited during start-up \(exit-code, exit status 1\)/ },
      'unit-fails': { startArgs: ['--no-such-option'], how: 'ExecStart exits at once (bad option, exit 2)', expect: 'fail', error: /exited during start-up \(exit-code, exit status 2\)/ },
      'mem-lag': NA.acquires,
      'nvidia-smi': smi('missing-driver'),
    },
  },
  {
    key: 'stop', label: 'systemctl stop', svc: 'vllm-embedding', prep: ['rag'], target: 'blank', step: { action: 'stop' }, failAction: 'stop',
    cases: {
      '500': NA.noHttpStop,
      hang: { startArgs: ['--stop-ms', scaled(8000)], how: 'SIGTERM takes 5.6 s (--stop-ms 8 s)', expect: 'fail', error: TIMEOUT },
      refused: NA.noHttpStop,
      crash: NA.crashStop,
      'unit-fails': NA.noStart,
      'mem-lag': { ...lagCase, how: `--release-lag-ms ${LAG_MS / 1000} s (after SIGTERM)` },
      'nvidia-smi': smi('na'),
    },
  },
  {
    key: 'health', label: 'health (after a cold start)', svc: 'vllm-embedding', prep: ['blank'], target: 'rag', step: { action: 'start' }, failAction: 'start',
    cases: {
      '500': { startArgs: ['--fault', '/health:500'], how: '--fault /health:500', expect: 'fail', error: TIMEOUT },
      hang: { startArgs: ['--fault', '/health:hang'], how: '--fault /health:hang', expect: 'fail', error: TIMEOUT },
      refused: { startArgs: ['--fault', '/health:refuse'], how: '--fault /health:refuse', expect: 'fail', error: TIMEOUT },
      crash: { startArgs: ['--fault', '/health:crash'], how: '--fault /health:crash', expect: 'fail', error: /exited during start-up \(exit-code, exit status 1\)/ },
      'unit-fails': NA.noStart,
      'mem-lag': NA.acquires,
      'nvidia-smi': NA.gpuNotAsked,
    },
  },
  {
    key: 'readiness', label: 'readiness request', svc: 'vllm-chat', prep: ['rag', 'code'], target: 'rag', step: { action: 'wake' }, failAction: 'ready',
    cases: { ...httpFaults('/v1/completions'), 'unit-fails': NA.noStart, 'mem-lag': NA.acquires, 'nvidia-smi': NA.gpuNotAsked },
  },
];

interface Outcome {
  kind: string;
  fault: Fault;
  passed: boolean;
  /** 'target' or 'rolled back'. */
  ended?: string;
  note?: string;
  /** The faulted switch alone, and the whole case (set-up switches, checks). */
  switchMs?: number;
  ms: number;
}

const outcomes: Outcome[] = [];

/** The profile's VRAM residues while asleep (demo/profile.ts), MB. */
const SLEEP_VRAM: Record<string, number> = Object.fromEntries(PROFILE.map((p) => [p.name, Number(p.config.sleep_vram_mb ?? 0)]));

interface SwitchJson {
  ok: boolean;
  from: string | null;
  to: string;
  mode: string | null;
  rolled_back: boolean;
  failure: { service: string; action: string; error: string } | null;
  total_ms: number;
  steps: Array<{ service: string; action: string; phase: string; result: string; ms: number; error?: string }>;
  plan: { steps: Array<{ service: string; action: string; depth?: string }> };
}

async function runCase(rig: Rig, kind: Kind, c: Case, o: Outcome): Promise<string> {
  if (c.startArgs) {
    await setStartArgs(rig, kind.svc, c.startArgs);
    await stopUnit(rig, kind.svc); // the set-up switches start it with the fault (or not at all: then the faulted switch does)
  }
  for (const m of kind.prep) await switchTo(rig, m);
  const from = kind.prep[kind.prep.length - 1];
  const before = await status(rig);
  assert.equal(before.mode, from, `set-up: the machine should be in ${from}: ${JSON.stringify(before)}`);
  const historyBefore = readHistory(rig).length;
  if (c.inject) await injectFault(rig, kind.svc, c.inject.kind === 'refuse' ? { ...c.inject, forMs: REFUSE_MS } : c.inject);

  const run = await cli(rig, ['switch', kind.target, '--json', '--verbose'], c.env ?? {});
  let res: SwitchJson;
  try {
    res = JSON.parse(run.stdout) as SwitchJson;
  } catch {
    assert.fail(`gpumod switch printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
  o.switchMs = res.total_ms;
  const where = `\n${JSON.stringify({ ...res, plan: undefined })}\n--- stderr ---\n${run.stderr.slice(-3000)}`;
  // The case tests what it claims: the plan has the step.
  assert.ok(
    res.plan.steps.some((s) => s.service === kind.svc && s.action === kind.step.action && (kind.step.depth === undefined || s.depth === kind.step.depth)),
    `the plan has no ${kind.step.action} ${kind.svc}${kind.step.depth ? ` (${kind.step.depth})` : ''}: ${JSON.stringify(res.plan.steps)}`,
  );

  // Ends in the target, or rolled back; the failure names the service and the step.
  if (c.expect === 'unproven') {
    const sleep = res.steps.find((s) => s.service === kind.svc && s.action === 'sleep' && s.phase === 'release');
    assert.equal(sleep?.result, 'failed', `the sleep counted although the GPU did not show its memory freed${where}`);
    assert.match(sleep?.error ?? '', /answered its sleep but still holds/);
    if (run.code === 0) {
      assert.equal(res.mode, kind.target);
      assert.ok(res.steps.some((s) => s.service === kind.svc && s.action === 'stop' && s.result === 'ok'), `reached the target without stopping ${kind.svc}${where}`);
      o.note = 'the sleep failed; stopped instead';
    } else {
      assert.equal(res.rolled_back, true, `not rolled back${where}`);
      if (res.failure?.service === kind.svc) {
        assert.equal(res.failure?.action, 'sleep');
        o.note = 'the sleep failed; rolled back';
      } else {
        // Stopped instead, but its memory (lagging too) did not show freed within the next wake's deadline:
        // that wake refused to start into it, and the switch rolled back.
        assert.ok(res.steps.some((s) => s.service === kind.svc && s.action === 'stop' && s.phase === 'release'), `${kind.svc} was not stopped instead${where}`);
        assert.match(res.failure?.error ?? '', /not started into memory that is not free/, `another failure${where}`);
        o.note = 'the sleep failed; stopped instead; the next wake found no room in time; rolled back';
      }
    }
  } else if (c.expect === 'ok') {
    assert.equal(run.code, 0, `expected the switch to survive the fault${where}`);
    assert.equal(res.mode, kind.target);
  } else {
    assert.equal(run.code, 1, `expected the switch to fail and roll back${where}`);
    assert.equal(res.ok, false);
    assert.equal(res.rolled_back, true, `not rolled back${where}`);
    assert.ok(res.failure, `no failure reported${where}`);
    assert.equal(res.failure.service, kind.svc, `the failure names another service${where}`);
    assert.equal(res.failure.action, kind.failAction, `the failure names another step${where}`);
    if (c.error) assert.match(res.failure.error, c.error);
  }

  // state.json and history.jsonl agree with the result and with what is observed now.
  const state = readState(rig);
  assert.equal(state.switching, undefined, 'the in-progress marker was left behind');
  assert.equal(state.mode ?? null, res.mode, 'state.json records another mode than the result');
  const history = readHistory(rig);
  assert.equal(history.length, historyBefore + 1, 'one switch, one history record');
  const last = history[history.length - 1];
  assert.deepEqual(
    { kind: last.kind, from: last.from ?? null, to: last.to, ok: last.ok, rolledBack: last.rolledBack, steps: last.steps.length },
    { kind: 'switch', from: res.from, to: kind.target, ok: res.ok, rolledBack: res.rolled_back, steps: res.steps.length },
  );
  if (res.failure) assert.ok(last.error?.startsWith(`${res.failure.action} ${res.failure.service}:`), `history error: ${last.error}`);
  const now = await status(rig);
  assert.equal(now.switching, null);
  const refusing = c.inject?.kind === 'refuse' ? kind.svc : undefined;
  for (const o of now.services) {
    if (o.name === refusing) continue; // not listening until the refusal ends: observed as starting
    assert.equal(state.services[o.name]?.state, o.state, `state.json says ${o.name} is ${state.services[o.name]?.state}, status observes ${o.state}`);
  }
  if (!refusing) assert.equal(now.mode, res.mode, 'status derives another mode than the switch recorded');
  if (c.waits) {
    // The lag was real: the switch either waited for the memory (until the card showed it freed, or up
    // to its bound) or went on because the card had room, and the memory is still shown held now.
    const w = res.steps.find((s) => s.action === 'wait-free');
    const waited = w !== undefined && (w.result === 'ok' || w.result === 'timeout') && w.ms >= 400;
    const held = now.services.find((o) => o.name === kind.svc)?.vram_mb ?? 0;
    const residue = kind.step.action === 'stop' ? 0 : (SLEEP_VRAM[kind.svc] ?? 0);
    assert.ok(waited || held > residue, `the release lag left no trace: wait-free ${JSON.stringify(w)}, ${kind.svc} holds ${held} MB now${where}`);
    o.note = waited ? `waited ${(w.ms / 1000).toFixed(1)} s (${w.result})` : `went on, ${held} MB still shown held`;
  }

  // Once the fault is gone, the machine is where the switch said it would be: target, or back.
  await clearFaults(rig);
  if (refusing) await until(`${refusing} to listen again`, () => fakeState(rig, refusing), 20_000, 100);
  const after = await status(rig);
  const expected = run.code === 0 ? kind.target : from;
  assert.equal(after.mode, expected, `ended in ${after.mode ?? 'no mode'}, neither the target nor rolled back to ${from}: ${JSON.stringify(after.services)}`);
  if (run.code !== 0) {
    // A rollback returns every service to the state the switch observed, not just the mode: a sleeper
    // sleeps at its depth again, a stopped one is stopped (the faulted unit may stay `failed`: no
    // process either, and the failure stays visible).
    // A rollback step the fault itself defeated (the server still refusing) is reported, not hidden:
    // that service is left out of the comparison, and the case says so.
    const undone = new Set(res.steps.filter((s) => s.phase === 'rollback' && s.result !== 'ok').map((s) => s.service));
    const seen = (st: StatusJson, faulted: boolean): string[] =>
      st.services
        .filter((o) => !undone.has(o.name))
        .map((o) => `${o.name}: ${faulted && o.name === kind.svc && o.state === 'failed' ? 'stopped' : o.state}${o.sleep ? ` (${o.sleep})` : ''}`);
    assert.deepEqual(seen(after, true), seen(before, false), `the rollback did not restore the observed states${where}`);
    if (undone.size > 0) o.note = `rollback step failed and reported: ${[...undone].join(', ')}`;
  }
  await assertNoOrphans(rig);
  return run.code === 0 ? 'target' : 'rolled back';
}

function report(): string {
  const cell = (k: Kind, f: Fault): string => {
    const c = k.cases[f];
    if (c === undefined || typeof c === 'string') return 'n/a';
    const o = outcomes.find((x) => x.kind === k.key && x.fault === f);
    return !o ? 'not run' : o.passed ? (o.ended === 'target' ? 'pass (target)' : 'pass (rolled back)') : 'FAIL';
  };
  const cases = outcomes.length;
  const passed = outcomes.filter((o) => o.passed).length;
  const na = KINDS.reduce((n, k) => n + FAULTS.filter((f) => typeof k.cases[f.key] !== 'object').length, 0);
  const lines = [
    `| step \\ fault | ${FAULTS.map((f) => f.label).join(' | ')} |`,
    `|---|${FAULTS.map(() => '---').join('|')}|`,
    ...KINDS.map((k) => `| ${k.label} | ${FAULTS.map((f) => cell(k, f.key)).join(' | ')} |`),
    '',
    `**${cases} cases run, ${passed} passed, ${cases - passed} failed; ${na} combinations n/a.** ` +
      `${outcomes.filter((o) => o.passed && o.ended === 'target').length} survived the fault and reached their target; ` +
      `${outcomes.filter((o) => o.passed && o.ended === 'rolled back').length} failed cleanly and rolled back.`,
    '',
    'Why the n/a cells are n/a:',
    ...KINDS.flatMap((k) => FAULTS.filter((f) => typeof k.cases[f.key] === 'string').map((f) => `- ${k.label} × ${f.label}: ${k.cases[f.key] as string}`)),
    '',
    'Each case: the service, how the fault was made, how the switch ended, how long the faulted switch took:',
    ...KINDS.flatMap((k) =>
      FAULTS.filter((f) => typeof k.cases[f.key] === 'object').map((f) => {
        const c = k.cases[f.key] as Case;
        const o = outcomes.find((x) => x.kind === k.key && x.fault === f.key);
        const when = c.inject ? ' (at run time)' : c.startArgs ? ' (at start, drop-in)' : '';
        const how = !o ? 'not run' : !o.passed ? 'FAILED' : `${o.ended}${o.note ? ` (${o.note})` : ''}, ${o.switchMs !== undefined ? (o.switchMs / 1000).toFixed(1) : '?'} s`;
        return `- ${k.label} × ${f.label}: ${k.svc}, ${c.how}${when} → ${how}`;
      }),
    ),
  ];
  return lines.join('\n');
}

const BEGIN = '<!-- fault-matrix:begin (written by test/integration/reliability/faultMatrix.test.ts) -->';
const END = '<!-- fault-matrix:end -->';

describe('reliability: the fault matrix (every step kind × every fault, real switches under systemd)', function () {
  let rig: Rig;
  const t0 = Date.now();

  before(async function () {
    this.timeout(120_000);
    rig = await upRig('matrix', PORT_BASE, (y) => {
      // The readiness row: a 1-token completion after vllm-chat wakes.
      y.services['vllm-chat'].readiness = { method: 'POST', path: '/v1/completions', body: { model: 'chat-2b-vl', prompt: 'ping', max_tokens: 1 } };
    });
  });

  afterEach(async function () {
    this.timeout(120_000);
    await clearFaults(rig);
    await clearStartArgs(rig);
    await resetFailedAll(rig);
  });

  after(async function () {
    this.timeout(120_000);
    if (rig) await downRig(rig);
    const text = report();
    const total = KINDS.reduce((n, k) => n + FAULTS.filter((f) => typeof k.cases[f.key] === 'object').length, 0);
    process.stdout.write(`\n      fault matrix (${Math.round((Date.now() - t0) / 1000)} s):\n${text.split('\n').map((l) => `      ${l}`).join('\n')}\n`);
    // Only a complete run rewrites the figures (a --grep run prints its part).
    if (outcomes.length === total) {
      const doc = join(REPO, 'docs/RELIABILITY.md');
      const old = readFileSync(doc, 'utf8');
      const a = old.indexOf(BEGIN);
      const b = old.indexOf(END);
      if (a >= 0 && b > a) writeFileSync(doc, `${old.slice(0, a + BEGIN.length)}\n${text}\n${old.slice(b)}`);
    }
  });

  for (const kind of KINDS) {
    for (const f of FAULTS) {
      const c = kind.cases[f.key];
      if (c === undefined || typeof c === 'string') continue;
      it(`${kind.label} × ${f.label} (${c.how}) → ${c.expect === 'ok' ? 'reaches the target' : 'fails naming the step, rolls back'}`, async function () {
        this.timeout(180_000);
        const start = Date.now();
        const o: Outcome = { kind: kind.key, fault: f.key, passed: false, ms: 0 };
        outcomes.push(o);
        try {
          o.ended = await runCase(rig, kind, c, o);
          o.passed = true;
        } finally {
          o.ms = Date.now() - start;
        }
      });
    }
  }
});
