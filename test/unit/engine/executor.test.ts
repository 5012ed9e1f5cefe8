import * as assert from 'node:assert/strict';
import { execute, type ExecOptions, type ExecResult } from '../../../src/engine/executor';
import { estimates } from '../../../src/engine/history';
import { plan } from '../../../src/engine/planner';
import type { StepEvent } from '../../../src/engine/steps';
import type { Plan, TimelineEntry } from '../../../src/engine/types';
import type { FakeMachine, FakeState } from './fakeMachine';
import { look, machine, profileHistory, type Card, type ModeName } from './profile';

interface Run {
  m: FakeMachine;
  p: Plan;
  r: ExecResult;
  before: Record<string, string>;
}

async function prepare(card: Card, from: ModeName, to: ModeName, overrides: Record<string, FakeState> = {}): Promise<{ m: FakeMachine; p: Plan }> {
  const m = machine(card, from, overrides);
  const p = plan(m.config, await look(m), to, { currentMode: from, estimates: estimates(profileHistory()) });
  return { m, p };
}

async function run(card: Card, from: ModeName, to: ModeName, setup: (m: FakeMachine) => void = () => undefined, opts: ExecOptions = {}): Promise<Run> {
  const { m, p } = await prepare(card, from, to);
  const before = states(m);
  setup(m);
  m.calls.length = 0;
  const r = await execute(p, m.config, m.ports(), opts);
  return { m, p, r, before };
}

function states(m: FakeMachine): Record<string, string> {
  return Object.fromEntries([...m.services.keys()].map((n) => [n, m.stateOf(n)]));
}

function entry(r: ExecResult, service: string, action: TimelineEntry['action'], phase?: TimelineEntry['phase']): TimelineEntry {
  const e = r.timeline.find((x) => x.service === service && x.action === action && (phase === undefined || x.phase === phase));
  assert.ok(e, `no ${action} ${service} in ${JSON.stringify(r.timeline)}`);
  return e;
}

const overlap = (a: TimelineEntry, b: TimelineEntry): boolean => a.startMs < b.startMs + b.ms && b.startMs < a.startMs + a.ms;

describe('executor', () => {
  it('32 GB code → rag: unload, then the three wakes in parallel, in about two seconds, no cold start', async () => {
    const { m, r } = await run(32, 'code', 'rag');
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    assert.equal(m.stateOf('glm-code'), 'router');
    for (const s of ['vllm-chat', 'vllm-hyde', 'vllm-reranker', 'vllm-embedding']) assert.equal(m.stateOf(s), 'running', s);
    assert.deepEqual(
      m.mutations().filter((c) => c.op === 'start' || c.op === 'stop'),
      [],
    );
    const chat = entry(r, 'vllm-chat', 'wake');
    const hyde = entry(r, 'vllm-hyde', 'wake');
    const reranker = entry(r, 'vllm-reranker', 'wake');
    assert.ok(overlap(chat, hyde) && overlap(hyde, reranker), JSON.stringify(r.timeline));
    assert.equal(chat.depth, 'l1');
    assert.equal(hyde.depth, 'l2');
    // Acquire starts only after the release and the freed-memory check.
    const unload = entry(r, 'glm-code', 'sleep');
    assert.ok(chat.startMs >= unload.startMs + unload.ms);
    const wait = entry(r, 'gpu', 'wait-free');
    assert.equal(wait.result, 'ok');
    assert.ok(wait.ms <= 100, `waited ${wait.ms} ms after a sleep`);
    assert.ok(r.totalMs < 2500, `total ${r.totalMs} ms`);
  });

  it('waits for the GPU to show a stop freed by polling, not a fixed pause', async () => {
    const { m, r } = await run(24, 'rag', 'code');
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    const wait = entry(r, 'gpu', 'wait-free');
    assert.equal(wait.result, 'ok');
    // Stops exit at 0.8 s and the memory shows 0.2 s later: the wait ends at the first poll after that.
    assert.ok(wait.ms >= 150 && wait.ms <= 300, `waited ${wait.ms} ms`);
    const polls = m.calls.filter((c) => c.op === 'snapshot' && c.t >= wait.startMs && c.t <= wait.startMs + wait.ms);
    assert.ok(polls.length >= 3, `${polls.length} polls`);
    const load = entry(r, 'glm-code', 'load');
    assert.ok(load.startMs >= wait.startMs + wait.ms);
    assert.equal(m.stateOf('glm-code'), 'running');
    assert.equal(m.stateOf('vllm-hyde'), 'l2');
    assert.equal(m.stateOf('vllm-chat'), 'stopped');
  });

  it('skips the freed-memory wait when no GPU is visible: skipped as it happens too, and no warning', async () => {
    const { m, p } = await prepare(32, 'code', 'rag');
    m.gpuVisible = false;
    const warnings: string[] = [];
    const ended: TimelineEntry[] = [];
    const ports = { ...m.ports(), log: { ...m.ports().log, warn: (w: string) => warnings.push(w) } };
    const r = await execute(p, m.config, ports, { onStep: (e) => e.kind === 'end' && ended.push({ ...e.entry }) });
    assert.equal(r.ok, true);
    const wait = entry(r, 'gpu', 'wait-free');
    assert.equal(wait.result, 'skipped');
    assert.equal(wait.ms, 0);
    assert.deepEqual(ended.find((e) => e.action === 'wait-free'), wait, 'the progress event says what the timeline says');
    assert.deepEqual(warnings, []);
  });

  it('a cold start is systemctl start then the driver awaiting readiness; a router load is a wake', async () => {
    const events: StepEvent[] = [];
    const { m, r } = await run(32, 'blank', 'code', () => undefined, { onStep: (e) => events.push(e) });
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    const ops = m.mutations().filter((c) => c.service === 'vllm-embedding-code').map((c) => c.op);
    assert.deepEqual(ops, ['start', 'awaitReady'], 'no readiness request configured: none sent');
    assert.deepEqual(
      m.mutations().filter((c) => c.service === 'glm-code').map((c) => c.op),
      ['wake'],
    );
    assert.equal(entry(r, 'vllm-embedding-code', 'start').ms, 60_020);
    assert.equal(events.filter((e) => e.kind === 'begin').length, events.filter((e) => e.kind === 'end').length);
    assert.equal(events.length, 4, "begin and end of the load and the start");
  });

  it('a wake that hangs hits its deadline, and the switch is rolled back', async () => {
    const { m, r, before } = await run(32, 'code', 'rag', (m) => m.fail('vllm-hyde', 'wake', 'hang'));
    assert.equal(r.ok, false);
    assert.equal(r.rolledBack, true);
    assert.deepEqual(r.failure && { service: r.failure.service, action: r.failure.action, code: r.failure.code }, {
      service: 'vllm-hyde',
      action: 'wake',
      code: 'DEADLINE',
    });
    const hang = entry(r, 'vllm-hyde', 'wake', 'acquire');
    assert.equal(hang.result, 'timeout');
    assert.equal(hang.ms, 120_000, 'the configured wake timeout');
    // The woken ones went back to sleep and glm-code was loaded again.
    assert.equal(entry(r, 'vllm-chat', 'wake', 'acquire').result, 'rolled-back');
    assert.equal(entry(r, 'glm-code', 'load', 'rollback').result, 'ok');
    assert.deepEqual(states(m), before);
    assert.equal(r.final?.services.get('glm-code')?.state, 'running');
  });

  it('a failed load rolls back: the outgoing rag services are woken again', async () => {
    const { m, r, before } = await run(32, 'rag', 'code', (m) => m.fail('glm-code', 'wake', 'error'));
    assert.equal(r.ok, false);
    assert.equal(r.failure?.service, 'glm-code');
    assert.match(r.failure?.error ?? '', /injected wake failure/);
    for (const s of ['vllm-chat', 'vllm-hyde', 'vllm-reranker']) {
      assert.equal(entry(r, s, 'wake', 'rollback').result, 'ok', s);
      assert.equal(m.stateOf(s), 'running', s);
    }
    assert.deepEqual(states(m), before);
    assert.deepEqual(r.rollbackFailures, []);
  });

  it('a failed readiness check counts as a failure of that service', async () => {
    const { r } = await run(32, 'code', 'rag', (m) => m.fail('vllm-chat', 'ready', 'error'));
    assert.equal(r.ok, false);
    assert.deepEqual([r.failure?.service, r.failure?.action], ['vllm-chat', 'ready']);
    assert.equal(r.rolledBack, true);
  });

  it('cancelled mid-acquire: running starts are aborted, nothing new launches, the machine is put back', async () => {
    const ctl = new AbortController();
    const { m, p } = await prepare(24, 'code', 'rag');
    const before = states(m);
    m.clock.at(10_000, () => ctl.abort());
    const r = await execute(p, m.config, m.ports(), { signal: ctl.signal });
    assert.equal(r.cancelled, true);
    assert.equal(r.ok, false);
    assert.equal(r.rolledBack, true);
    assert.equal(r.failure, undefined, 'a cancellation is not a failure');
    for (const s of ['vllm-chat', 'vllm-reranker', 'vllm-embedding']) {
      const e = entry(r, s, 'start', 'acquire');
      assert.equal(e.result, 'cancelled', s);
      assert.ok(e.startMs + e.ms <= 10_100, `${s} aborted promptly`);
      assert.equal(entry(r, s, 'stop', 'rollback').result, 'ok');
    }
    assert.equal(entry(r, 'vllm-hyde', 'sleep', 'rollback').depth, 'l2');
    assert.deepEqual(states(m), before);
  });

  it('a cancel that arrives after the last step does not undo a complete switch', async () => {
    const ctl = new AbortController();
    const onStep = (e: StepEvent): void => {
      if (e.kind === 'end' && e.entry.service === 'vllm-hyde') ctl.abort();
    };
    const { m, r } = await run(32, 'code', 'rag', () => undefined, { signal: ctl.signal, onStep });
    assert.deepEqual([r.ok, r.cancelled, r.rolledBack], [true, false, false]);
    assert.equal(m.stateOf('vllm-hyde'), 'running');
  });

  it('serialises the acquire phase largest first when the card does not show room for all at once', async () => {
    // blank → rag needs 14.7 GB more; a foreign process appearing after planning leaves 14.0 GB until it
    // exits 3 s later: each wake waits for its room, never starting into memory that is not free.
    const { m, r } = await run(32, 'blank', 'rag', (m) => {
      m.addForeign(0, 14_000);
      m.clock.at(m.clock.now() + 3000, () => m.foreign.splice(0));
    });
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    const acq = r.timeline.filter((e) => e.phase === 'acquire');
    assert.deepEqual(
      acq.map((e) => e.service),
      ['vllm-chat', 'vllm-hyde', 'vllm-embedding', 'vllm-reranker'],
    );
    for (let i = 1; i < acq.length; i++) assert.ok(!overlap(acq[i - 1], acq[i]), 'one after another');
    assert.equal(m.stateOf('vllm-embedding'), 'running');
  });

  it('never starts into memory that is not free: a wake whose room never shows fails at its deadline and the switch rolls back', async () => {
    const { m, r, before } = await run(32, 'blank', 'rag', (m) => m.addForeign(0, 14_000));
    assert.equal(r.ok, false);
    assert.equal(r.failure?.code, 'BUDGET');
    assert.match(r.failure?.error ?? '', /^GPU 0 shows \d+ MB free, but vllm-reranker needs 2200 MB \(\+ 512 MB margin\): not started into memory that is not free$/);
    assert.equal(m.calls.some((c) => c.op === 'start' && c.service === 'vllm-reranker'), false, 'the reranker was never started');
    assert.equal(r.rolledBack, true);
    assert.deepEqual(states(m), before, 'every service back in the state the switch found it in');
  });

  it('a sleep that frees nothing fails with the numbers; the service stops instead when the target needs the memory', async () => {
    const { m, r } = await run(32, 'rag', 'code', (m) => m.sleepFreesNothing.add('vllm-chat'));
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    const sleep = r.timeline.find((e) => e.service === 'vllm-chat' && e.action === 'sleep');
    assert.equal(sleep?.result, 'failed');
    assert.match(sleep?.error ?? '', /^vllm-chat answered its sleep but still holds 7\.0 GB of the 7\.0 GB it held awake \(asleep it should hold about 1\.5 GB\): is --enable-sleep-mode on its command line/);
    assert.equal(r.timeline.find((e) => e.service === 'vllm-chat' && e.action === 'stop')?.result, 'ok');
    assert.equal(m.stateOf('vllm-chat'), 'stopped');
    assert.equal(m.stateOf('glm-code'), 'running');
    assert.match(r.notes.join(' '), /vllm-chat stopped instead of sleeping/);
  });

  it('a sleep that frees nothing on the way to an empty mode stops the service instead: that mode is there to free the card', async () => {
    const { m, r } = await run(32, 'speak', 'blank', (mm) => mm.sleepFreesNothing.add('qwen3-asr'));
    assert.equal(r.ok, true, JSON.stringify(r.failure));
    assert.equal(r.timeline.find((e) => e.service === 'qwen3-asr' && e.action === 'sleep')?.result, 'failed');
    assert.equal(m.stateOf('qwen3-asr'), 'stopped');
  });

  it('a sleep that frees nothing where the target does not need the memory fails the switch and rolls it back', async () => {
    // speak → rag on 32 GB: the card has room for rag's wakes whatever qwen3-asr (a hook app) holds.
    const { m, r, before } = await run(32, 'speak', 'rag', (mm) => mm.sleepFreesNothing.add('qwen3-asr'));
    assert.equal(r.ok, false);
    assert.equal(r.failure?.code, 'SLEEP_INEFFECTIVE');
    assert.match(r.failure?.error ?? '', /^qwen3-asr answered its sleep but still holds 2\.5 GB.*: its sleep hook does not release the GPU; rag does not need its memory, so the switch is undone/);
    assert.equal(r.rolledBack, true);
    assert.deepEqual(states(m), before, 'qwen3-asr woken again: it was running before the switch');
  });

  it('refuses to execute a refused plan', async () => {
    const { m, p } = await prepare(32, 'code', 'rag');
    await assert.rejects(execute({ ...p, refused: { reason: 'no room', neededMb: 2, availableMb: 1 } }, m.config, m.ports()), /no room/);
  });
});
