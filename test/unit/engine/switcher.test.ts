import * as assert from 'node:assert/strict';
import { estimates } from '../../../src/engine/history';
import { recover, serviceAction, switchMode } from '../../../src/engine/switcher';
import { isGpumodError } from '../../../src/errors';
import type { FakeMachine } from './fakeMachine';
import { machine, profileConfig, service } from './profile';

function mustThrow(code: Parameters<typeof isGpumodError>[1], re: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isGpumodError(e, code), `expected ${code}, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  };
}

describe('switchMode', () => {
  it('32 GB code → rag: marks the switch in progress, executes, verifies, commits state and history', async () => {
    const m = machine(32, 'code');
    m.store.state = { mode: 'code', at: 0, services: {} };
    const r = await switchMode(m.config, 'rag', m.ports());
    assert.equal(r.ok, true, r.message);
    assert.equal(r.mode, 'rag');
    assert.equal(r.from, 'code');
    assert.match(r.message, /^Switched to rag in 1\.9 s \(estimate 1\.9 s\); vllm-chat answered after 588 ms\.$/);
    // First write: the in-progress marker, before anything changed; last: the committed mode.
    assert.deepEqual(m.store.writes[0].switching, { from: 'code', to: 'rag', pid: 4242, startedAt: 0 });
    assert.equal(m.store.writes[0].mode, 'code');
    const last = m.store.writes[m.store.writes.length - 1];
    assert.equal(last.mode, 'rag');
    assert.equal(last.switching, undefined);
    assert.deepEqual(last.services['glm-code'], { state: 'sleeping', sleep: 'router' });
    assert.equal(m.store.history.length, 1);
    const h = m.store.history[0];
    assert.deepEqual([h.kind, h.from, h.to, h.ok, h.rolledBack], ['switch', 'code', 'rag', true, false]);
    assert.ok(h.steps.some((e) => e.action === 'verify' && e.result === 'ok'));
    assert.equal(h.totalMs, r.totalMs);
    assert.equal(m.lock.holder, undefined, 'lock released');
  });

  it('code → code touches nothing', async () => {
    const m = machine(32, 'code');
    m.store.state = { mode: 'code', at: 0, services: {} };
    const r = await switchMode(m.config, 'code', m.ports());
    assert.equal(r.noop, true);
    assert.equal(r.ok, true);
    assert.deepEqual(m.mutations(), []);
    assert.equal(m.store.history.length, 0);
    assert.equal(m.store.state?.mode, 'code');
  });

  it('a no-op switch rewrites the state file only when it would say something new', async () => {
    const m = machine(32, 'code');
    let writes = 0;
    const write = m.store.writeState.bind(m.store);
    m.store.writeState = (st) => (writes++, write(st));
    const counted = m.ports();
    await switchMode(m.config, 'code', counted);
    assert.equal(writes, 1, 'no state file yet: written');
    await switchMode(m.config, 'code', counted);
    assert.equal(writes, 1, 'the same mode and states: left as it is');
    m.store.state = { ...m.store.state!, mode: 'rag' };
    await switchMode(m.config, 'code', counted);
    assert.equal(writes, 2);
    assert.equal(m.store.state?.mode, 'code');
  });

  it('code → code observes once: one systemctl show of every unit and one GPU snapshot', async () => {
    const m = machine(32, 'code');
    const r = await switchMode(m.config, 'code', m.ports());
    assert.equal(r.noop, true);
    assert.equal(r.ok, true, r.message);
    const units = [...m.config.services.values()].map((s) => s.unit);
    const looks = m.calls.filter((c) => c.op === 'show' || c.op === 'showMany' || c.op === 'snapshot');
    assert.deepEqual(looks.map((c) => [c.op, c.units]), [['snapshot', undefined], ['showMany', units]]);
    // The services alone showed code reached: the switch returned without waiting for the GPU's answer.
    assert.equal(r.observation.gpu.available, false);
    assert.equal(r.totalMs < m.gpuQueryMs, true, `${r.totalMs} ms`);
  });

  it('a no-op switch does not wait for a GPU that does not answer; a switch with steps does', async () => {
    const m = machine(32, 'code');
    m.gpuQueryMs = 60_000;
    const noop = await switchMode(m.config, 'code', m.ports());
    assert.equal(noop.noop, true);
    assert.ok(noop.totalMs < 1000, `${noop.totalMs} ms`);
    m.gpuQueryMs = 28;
    const t0 = m.clock.now();
    const r = await switchMode(m.config, 'rag', m.ports());
    assert.equal(r.ok, true, r.message);
    assert.ok(r.timeline[0].startMs >= 28, 'the first step came after the GPU answered');
    assert.ok(m.clock.now() - t0 >= 28);
  });

  it('code → rag: each of its two observations (before, and the verification) is one systemctl show', async () => {
    const m = machine(32, 'code');
    const r = await switchMode(m.config, 'rag', m.ports());
    assert.equal(r.ok, true, r.message);
    const units = [...m.config.services.values()].map((s) => s.unit);
    const shows = m.calls.filter((c) => c.op === 'show' || c.op === 'showMany');
    assert.deepEqual(shows.map((c) => [c.op, c.units]), [['showMany', units], ['showMany', units]]);
    const verify = r.timeline.find((e) => e.action === 'verify')!;
    assert.equal(shows[1].t, verify.startMs, 'the second look is the verification');
  });

  it('lock contention: the holder is named, and nothing is observed or touched', async () => {
    const m = machine(32, 'code');
    m.lock.holder = 'VS Code window (pid 777)';
    await assert.rejects(switchMode(m.config, 'rag', m.ports()), mustThrow('LOCKED', /another switch is in progress: VS Code window \(pid 777\)/));
    assert.deepEqual(m.calls, []);
  });

  it('two switches at once: the second is refused with LOCKED while the first completes', async () => {
    const m = machine(32, 'code');
    const first = switchMode(m.config, 'rag', m.ports(), { owner: 'window A' });
    const second = switchMode(m.config, 'speak', m.ports(), { owner: 'window B' });
    await assert.rejects(second, mustThrow('LOCKED', /window A/));
    assert.equal((await first).ok, true);
     assert.equal(m.follows.length, 2, 'each switch follows the GPU');
    assert.equal(m.following, 0, 'and stops following when it ends, refused or not');
  });

  it('follows the GPU at the watch period while it runs, a service action too', async () => {
    const m = machine(32, 'code');
    const seen: number[] = [];
    const r = await switchMode(m.config, 'rag', m.ports(), { onStep: () => seen.push(m.following) });
    assert.equal(r.ok, true, r.message);
    assert.ok(seen.length > 0 && seen.every((n) => n === 1), 'followed during every step');
    assert.deepEqual(m.follows, [25]);
    assert.equal(m.following, 0);
    m.lock.holder = 'VS Code window (pid 777)';
    await assert.rejects(serviceAction(m.config, 'vllm-chat', 'sleep', m.ports()), mustThrow('LOCKED', /pid 777/));
    assert.equal(m.following, 0, 'a refused action stops following too');
  });

  it('a refused plan throws BUDGET with the numbers, touches nothing, and releases the lock', async () => {
    const m = machine(32, 'blank');
    m.totals.set(0, 16376);
    await assert.rejects(switchMode(m.config, 'code', m.ports()), mustThrow('BUDGET', /23512 MB needed, but the card has 16376 MB/));
    assert.deepEqual(m.mutations(), []);
    assert.equal(m.lock.holder, undefined);
    assert.equal(m.store.writes.length, 0);
  });

  it('a service that comes up unhealthy fails verification and the switch is rolled back', async () => {
    const m = machine(32, 'code');
    m.fail('vllm-chat', 'wake', 'unhealthy');
    const r = await switchMode(m.config, 'rag', m.ports());
    assert.equal(r.ok, false);
    assert.equal(r.rolledBack, true);
    assert.deepEqual([r.failure?.service, r.failure?.action], ['rag', 'verify']);
    assert.match(r.failure?.error ?? '', /vllm-chat is running but not healthy/);
    assert.equal(r.mode, 'code');
    assert.match(r.message, /^Switch to rag failed: verify rag: .*; rolled back; the machine is in code\.$/);
    assert.equal(m.stateOf('glm-code'), 'running');
    assert.equal(m.stateOf('vllm-chat'), 'l1');
    assert.equal(m.store.state?.mode, 'code');
    assert.equal(m.store.state?.switching, undefined);
    const h = m.store.history[0];
    assert.deepEqual([h.ok, h.rolledBack], [false, true]);
    assert.match(h.error ?? '', /verify rag/);
  });

  it('cancelled: rolled back, recorded as cancelled, the mode is where it was', async () => {
    const m = machine(24, 'code');
    const ctl = new AbortController();
    m.clock.at(5000, () => ctl.abort());
    const r = await switchMode(m.config, 'rag', m.ports(), { signal: ctl.signal });
    assert.equal(r.cancelled, true);
    assert.equal(r.mode, 'code');
    assert.match(r.message, /^Switch to rag cancelled; rolled back; the machine is in code\.$/);
    assert.equal(m.store.history[0].cancelled, true);
    assert.equal(m.stateOf('vllm-embedding'), 'stopped');
  });

  it('learns: the second switch is estimated from the first one’s timeline', async () => {
    const m = machine(32, 'code');
    await switchMode(m.config, 'rag', m.ports());
    await switchMode(m.config, 'code', m.ports());
    const r = await switchMode(m.config, 'rag', m.ports());
    // The hyde wake measured 1.8 s (the default says 1.5 s).
    assert.equal(r.plan.steps.find((s) => s.service === 'vllm-hyde')?.estimateMs, 1800);
  });

  it('a service already starting is awaited: the timeline says so and the cold-start estimate does not learn from it', async () => {
    const m = machine(32, 'blank');
    await m.ports().systemd.start('vllm-embedding.service');
    await m.clock.sleep(110_000); // 10 s of its 120 s cold start left
    const r = await switchMode(m.config, 'rag', m.ports());
    assert.equal(r.ok, true, r.message);
    const joined = r.timeline.find((e) => e.service === 'vllm-embedding' && e.action === 'start');
    assert.ok(joined && joined.ms <= 10_000, JSON.stringify(joined));
    assert.equal(joined.awaited, true);
    assert.equal(r.timeline.find((e) => e.service === 'vllm-hyde' && e.action === 'wake')?.awaited, undefined);
    assert.equal(estimates(m.store.history).ms(m.config.services.get('vllm-embedding')!, 'start'), 60_000, 'the default, not the rest of a start');
  });
});

describe('switchMode: what it could not observe', () => {
  it('looks again, longer, at a service whose probe was too slow, and wakes a sleeper rather than start it', async () => {
    const m = machine(32, 'code');
    m.probeDelayMs.set('vllm-chat', 8000); // /is_sleeping slower than the 5 s status deadline, until it wakes
    const r = await switchMode(m.config, 'rag', m.ports(), { onPlan: () => m.probeDelayMs.delete('vllm-chat') });
    assert.equal(r.ok, true, r.message);
    assert.equal(r.plan.steps.find((s) => s.service === 'vllm-chat')?.action, 'wake');
    assert.deepEqual(m.mutations().filter((c) => c.service === 'vllm-chat').map((c) => c.op), ['wake', 'ready']);
    // The second look asks systemd about that one unit only; then the verification about all.
    const units = [...m.config.services.values()].map((s) => s.unit);
    assert.deepEqual(m.calls.filter((c) => c.op === 'show' || c.op === 'showMany').map((c) => c.units), [units, ['vllm-chat.service'], units]);
  });

  it('does not touch a service it still cannot see, finishes the rest and says the mode is not fully reached', async () => {
    const m = machine(32, 'code');
    m.probeDelayMs.set('vllm-chat', 60_000);
    const r = await switchMode(m.config, 'rag', m.ports());
    assert.equal(r.ok, false);
    assert.equal(r.rolledBack, false);
    const chat = r.plan.steps.find((s) => s.service === 'vllm-chat');
    assert.equal(chat?.action, 'keep');
    assert.match(chat?.reason ?? '', /state unknown .*not touched/);
    assert.ok(r.plan.notes.some((n) => /vllm-chat could not be observed .*the switch does not touch it, so rag may not be fully reached/.test(n)), r.plan.notes.join('\n'));
    assert.equal(m.mutations().some((c) => c.service === 'vllm-chat'), false);
    assert.equal(m.stateOf('vllm-hyde'), 'running');
    assert.match(r.message, /^Switch to rag done as far as it could go, but rag is not fully reached: vllm-chat could not be observed/);
  });

  it('a switch that plans nothing still verifies: with no user manager, blank is not claimed', async () => {
    const m = machine(32, 'blank');
    m.systemdDown = true;
    const r = await switchMode(m.config, 'blank', m.ports());
    assert.equal(r.noop, true);
    assert.equal(r.ok, false);
    assert.match(r.message, /^blank is not reached, and nothing can be done about it now: .*could not be observed \(systemd: .*No medium found\)/);
    assert.equal(r.mode, undefined);
    assert.equal(m.store.state?.mode, undefined, 'the state file does not record blank');
  });
});

describe('switchMode: a wake is verified by the model\'s answer', () => {
  it('keeps the answer after a cold start, and restarts cold a service that answers otherwise after its wake', async () => {
    const m = machine(32, 'blank', { 'vllm-chat': 'stopped' });
    const first = await switchMode(m.config, 'rag', m.ports());
    assert.equal(first.ok, true, first.message);
    // The readiness request is a first answer: the switch says when the models answered.
    const readyEnd = Math.max(...first.timeline.filter((e) => e.action === 'ready').map((e) => e.startMs + e.ms));
    assert.equal(first.firstAnswerMs, readyEnd);
    assert.ok(readyEnd > 0 && readyEnd <= first.totalMs);
    assert.match(first.message, /; vllm-chat answered after \d/);
    const recorded = m.store.state?.answers?.['vllm-chat'];
    assert.equal(recorded?.answer, 'Hello from vllm-chat.');
    await switchMode(m.config, 'code', m.ports());
    assert.equal(m.stateOf('vllm-chat'), 'l1');
    assert.equal(m.store.state?.answers?.['vllm-chat']?.answer, 'Hello from vllm-chat.', 'kept while the same process sleeps');

    m.wakeDrifts.add('vllm-chat');
    m.calls.length = 0;
    const back = await switchMode(m.config, 'rag', m.ports());
    assert.equal(back.ok, true, back.message);
    const ready = back.timeline.filter((e) => e.service === 'vllm-chat' && e.action === 'ready');
    assert.equal(ready[0]?.result, 'failed');
    assert.match(ready[0]?.error ?? '', /^vllm-chat answers "Hello form vllm-chat!" after its wake where it answered "Hello from vllm-chat\." after its cold start: woken wrong/);
    assert.equal(back.timeline.find((e) => e.service === 'vllm-chat' && e.action === 'restart')?.result, 'ok');
    assert.equal(ready[1]?.result, 'ok');
    assert.match(back.message, /vllm-chat was restarted cold: vllm-chat answers "Hello form vllm-chat!"/);
    assert.equal(m.stateOf('vllm-chat'), 'running');
  });

  it('does not compare with an answer from an earlier process (started again by hand)', async () => {
    const m = machine(32, 'code');
    m.store.state = { mode: 'code', at: 0, services: {}, answers: { 'vllm-chat': { answer: 'something else', pid: 1 } } };
    m.wakeDrifts.add('vllm-chat');
    const r = await switchMode(m.config, 'rag', m.ports());
    assert.equal(r.ok, true, r.message);
    assert.equal(r.timeline.some((e) => e.action === 'restart'), false);
    assert.equal(m.store.state?.answers?.['vllm-chat'], undefined, 'a woken answer is no reference');
  });
});

describe('recover', () => {
  it('reconciles after a crash mid-switch: the observed mode wins and the marker is cleared', async () => {
    const m = machine(32, 'rag');
    m.store.state = { mode: 'code', at: 0, services: {}, switching: { from: 'code', to: 'rag', pid: 999, startedAt: 0 } };
    const r = await recover(m.config, m.ports());
    assert.equal(r.mode, 'rag');
    assert.deepEqual(r.interrupted, { from: 'code', to: 'rag', pid: 999, startedAt: 0 });
    assert.equal(m.store.state?.mode, 'rag');
    assert.equal(m.store.state?.switching, undefined);
    assert.deepEqual(m.mutations(), []);
  });

  it('reports drift when no mode matches', async () => {
    const m = machine(32, 'rag', { 'vllm-chat': 'l1' });
    m.store.state = { mode: 'rag', at: 0, services: {} };
    const r = await recover(m.config, m.ports());
    assert.equal(r.mode, undefined);
    assert.deepEqual(r.drift, ['rag: vllm-chat is sleeping (l1)']);
  });

  it('leaves a running switch alone', async () => {
    const m = machine(32, 'rag');
    m.lock.holder = 'gpumod CLI (pid 31337)';
    const r = await recover(m.config, m.ports());
    assert.match(r.skipped ?? '', /pid 31337/);
    assert.equal(m.store.writes.length, 0);
  });
});

describe('serviceAction', () => {
  const act = (m: FakeMachine, name: string, a: Parameters<typeof serviceAction>[2], force = false) =>
    serviceAction(m.config, name, a, m.ports(), { force });

  it('sleeps one service, re-derives the mode and records a history line', async () => {
    const m = machine(32, 'rag');
    m.store.state = { mode: 'rag', at: 0, services: {} };
    const r = await act(m, 'vllm-chat', 'sleep');
    assert.equal(r.ok, true, r.message);
    assert.equal(m.stateOf('vllm-chat'), 'l1');
    assert.equal(r.observation?.state, 'sleeping');
    assert.equal(r.mode, undefined, 'rag is no longer complete');
    assert.deepEqual(
      [m.store.history[0].kind, m.store.history[0].service, m.store.history[0].steps[0].action],
      ['service', 'vllm-chat', 'sleep'],
    );
    assert.equal(m.lock.holder, undefined);
  });

  it('sleepDeep puts an L1 service at L2', async () => {
    const m = machine(32, 'rag');
    await act(m, 'vllm-chat', 'sleepDeep');
    assert.equal(m.stateOf('vllm-chat'), 'l2');
  });

  it('sleep on a `sleep: l2` vLLM sleeps at its own depth, L2; asking for L2 is the same', async () => {
    const m = machine(32, 'rag');
    const r = await act(m, 'vllm-hyde', 'sleep');
    assert.equal(r.ok, true, r.message);
    assert.deepEqual([r.timeline[0].action, r.timeline[0].depth], ['sleep', 'l2']);
    assert.equal(m.stateOf('vllm-hyde'), 'l2');
    const deep = await act(m, 'vllm-reranker', 'sleepDeep');
    assert.equal(deep.ok, true, deep.message);
    assert.equal(m.stateOf('vllm-reranker'), 'l2');
  });

  it('wake of a router is a model load (checked against the card first)', async () => {
    const m = machine(32, 'rag');
    await assert.rejects(act(m, 'glm-code', 'wake'), mustThrow('BUDGET', /glm-code needs 20000 MB awake/));
    m.set({ 'vllm-chat': 'l1', 'vllm-hyde': 'l2', 'vllm-reranker': 'l2' });
    const r = await act(m, 'glm-code', 'wake');
    assert.equal(r.ok, true);
    assert.equal(r.timeline[0].action, 'load');
    assert.equal(m.stateOf('glm-code'), 'running');
  });

  it('refuses actions the state does not allow', async () => {
    const m = machine(32, 'code');
    await assert.rejects(act(m, 'vllm-tts', 'wake'), mustThrow('USAGE', /cannot wake vllm-tts: it is stopped/));
    await assert.rejects(act(m, 'vllm-embedding', 'sleep'), mustThrow('USAGE', /cannot sleep vllm-embedding: it cannot sleep/));
    await assert.rejects(act(m, 'nope', 'start'), mustThrow('USAGE', /unknown service "nope"/));
    assert.deepEqual(m.mutations(), []);
  });

  it('refuses to start a service whose port-mate (an alternative) holds the port, even with force', async () => {
    const config = profileConfig();
    const glm = config.services.get('glm-code')!;
    config.services.set('nemotron', service('nemotron', { driver: 'llamacpp', sleep: 'router', vram: 18_000, residue: 300, ram: 0 }, glm.port, { alternatives: ['glm-code'] }));
    glm.alternatives = ['nemotron'];
    const m = machine(32, 'rag', { nemotron: 'stopped' }, config);
    await assert.rejects(act(m, 'nemotron', 'start', true), mustThrow('USAGE', /cannot start nemotron: glm-code is sleeping on the same 127\.0\.0\.1:7077; stop it first, or switch to a mode with nemotron/));
    assert.deepEqual(m.mutations(), []);
  });

  it('a start that does not fit says so with the numbers; force overrides', async () => {
    const m = machine(24, 'code');
    await assert.rejects(act(m, 'vllm-tts', 'start'), mustThrow('BUDGET', /vllm-tts needs 4000 MB awake.*28512 MB, but GPU 0 \(24 GB card\) has 24564 MB/));
    assert.equal(m.lock.holder, undefined);
    const r = await act(m, 'vllm-tts', 'start', true);
    assert.equal(r.ok, true);
    assert.equal(m.stateOf('vllm-tts'), 'running');
  });

  it('a failing action is reported, not thrown', async () => {
    const m = machine(32, 'rag');
    m.fail('vllm-hyde', 'sleep');
    const r = await act(m, 'vllm-hyde', 'sleepDeep');
    assert.equal(r.ok, false);
    assert.match(r.message, /sleepDeep vllm-hyde failed: .*injected sleep failure/);
    assert.equal(m.store.history[0].ok, false);
  });
});
