// Concurrency and crashes, with the real CLI as child processes on the profile workstation: switches
// started at once, `kill -9` of a switching CLI in each phase (then status must tell the truth and
// the next switch must recover), and services changed behind gpumod's back (drift).
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testPort } from '../support/testManager';
import {
  assertNoOrphans,
  clearFaults,
  clearStartArgs,
  cli,
  downRig,
  fakeState,
  readHistory,
  readState,
  resetFailedAll,
  scaled,
  setStartArgs,
  spawnCli,
  stateOf,
  status,
  stopUnit,
  switchTo,
  until,
  upRig,
  type Rig,
  type StatusJson,
} from './support';

const PORT_BASE = testPort(1020);

/** Every service of `mode` is observed running: a mode status reports is one the observations prove. */
function proven(s: StatusJson, services: Record<string, string[]>): void {
  if (s.mode === null) return;
  for (const name of services[s.mode] ?? []) assert.equal(stateOf(s, name), 'running', `status says ${s.mode}, but ${name} is ${stateOf(s, name)}`);
}

const MODES: Record<string, string[]> = {
  code: ['glm-code', 'vllm-embedding-code'],
  rag: ['vllm-embedding', 'vllm-reranker', 'vllm-hyde', 'vllm-chat'],
  speak: ['vllm-tts', 'qwen3-asr', 'vllm-embedding', 'vllm-chat'],
  blank: [],
};

describe('reliability: concurrent switches, kill -9 mid-switch, drift (real CLI processes under systemd)', function () {
  let rig: Rig;

  before(async function () {
    this.timeout(120_000);
    rig = await upRig('conc', PORT_BASE, (y) => {
      // The slowed steps (6 s) must fit their deadlines: the recovery switch waits for the dead one's.
      y.services['vllm-chat'].sleep_timeout_s = 15;
      y.services['glm-code'].wake_timeout_s = 15;
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
  });

  it('three switches started at once: exactly one runs, the others exit 3 naming its PID and target, touching nothing', async function () {
    this.timeout(180_000);
    await switchTo(rig, 'blank');
    // Slow cold starts keep the winner's lock long enough that no loser can arrive after it.
    for (const svc of ['vllm-embedding', 'vllm-embedding-code', 'vllm-tts']) await setStartArgs(rig, svc, ['--startup-ms', scaled(3000)]);
    const historyBefore = readHistory(rig).length;
    const targets = ['rag', 'code', 'speak'];
    const runs = targets.map((t) => spawnCli(rig, ['switch', t, '--verbose']));
    const results = await Promise.all(runs.map((r) => r.done));
    const winners = results.map((r, i) => ({ r, i })).filter((x) => x.r.code === 0);
    assert.equal(winners.length, 1, `exactly one switch should run: exits ${results.map((r) => r.code).join(', ')}\n${results.map((r) => r.stderr).join('\n---\n')}`);
    const w = winners[0].i;
    for (let i = 0; i < runs.length; i++) {
      if (i === w) continue;
      assert.equal(results[i].code, 3, `the loser's exit code\n${results[i].stderr}`);
      assert.match(results[i].stderr, new RegExp(`switch in progress by PID ${runs[w].pid} \\(→ ${targets[w]}\\)`));
      // It lost before doing anything: no unit started or stopped, no server asked to sleep or wake.
      assert.doesNotMatch(results[i].stderr, /systemctl --user (start|stop)|> POST /, 'a loser acted');
    }
    const history = readHistory(rig);
    assert.equal(history.length, historyBefore + 1, 'one switch ran, one record');
    const rec = history[history.length - 1];
    assert.equal(rec.to, targets[w]);
    assert.equal(rec.ok, true);
    // No interleaving: every step of the record belongs to the winner's switch and they are in time order.
    const winnerServices = new Set([...MODES[targets[w]], 'gpu', targets[w]]);
    for (const s of rec.steps) assert.ok(winnerServices.has(s.service), `a step of another switch in the record: ${JSON.stringify(s)}`);
    const state = readState(rig);
    assert.equal(state.mode, targets[w]);
    assert.equal(state.switching, undefined);
    assert.ok(!existsSync(join(rig.stateDir, 'switch.lock')), 'the lock was released');
    const s = await status(rig);
    assert.equal(s.mode, targets[w]);
    await assertNoOrphans(rig);
  });

  interface Phase {
    name: string;
    /** Which service's fake is slowed, and how, so the phase lasts seconds. */
    svc: string;
    /** Where the killed switch (and the recovery) goes from rag; default code. */
    target?: string;
    args: string[];
    /** Resolves when the switch is in the phase. */
    reached: (run: ReturnType<typeof spawnCli>) => Promise<void>;
    /** What the log must (not) show at the moment of the kill: proof of the phase. */
    check: (stderrAtKill: string) => void;
  }

  const port = (svc: string): number => rig.port(svc);
  const RELEASES = ['sleep vllm-chat (l1)', 'sleep vllm-hyde (l2)', 'sleep vllm-reranker (l2)'];
  const releasesDone = (log: string, more: string[] = []): boolean => [...RELEASES, ...more].every((r) => log.includes(`] ${r}: ok`));
  // rag → blank also stops what cannot sleep: the wait for freed memory is the stops' (a sleep is
  // proven by the GPU within its own step, so a sleep's lag never reaches the wait).
  const STOPS = ['stop vllm-embedding'];

  const PHASES: Phase[] = [
    {
      name: 'during release (vllm-chat mid-sleep)',
      svc: 'vllm-chat',
      args: ['--sleep-ms-l1', scaled(6000)],
      reached: async (run) => {
        await run.waitForLog('the sleep of vllm-chat to be sent', (log) => log.includes(`> GET http://127.0.0.1:${port('vllm-chat')}/version`));
        await until('vllm-chat to be busy sleeping', async () => ((await fakeState(rig, 'vllm-chat'))?.busy === true ? true : undefined), 10_000, 20);
        // The other sleeps of the phase (sent beside it) done: the machine is then observably no longer in
        // rag, whatever a mid-sleep server says of itself (vLLM answers /health and is_sleeping=false until its sleep ends).
        await until('vllm-hyde and vllm-reranker asleep', async () => {
          const [h, r] = await Promise.all([fakeState(rig, 'vllm-hyde'), fakeState(rig, 'vllm-reranker')]);
          return h?.isSleeping === true && r?.isSleeping === true ? true : undefined;
        }, 10_000, 20);
      },
      check: (log) => {
        assert.doesNotMatch(log, /sleep vllm-chat \(l1\): ok/, 'the sleep had already finished');
        assert.doesNotMatch(log, /wait-free gpu:/);
      },
    },
    {
      name: 'during wait-free (vllm-embedding stopped, its memory not shown freed yet)',
      svc: 'vllm-embedding',
      target: 'blank',
      args: ['--release-lag-ms', scaled(8000)],
      reached: (run) => run.waitForLog('every release step to end', (log) => releasesDone(log, STOPS)),
      check: (log) => {
        assert.ok(releasesDone(log, STOPS), 'the release phase had not ended');
        assert.doesNotMatch(log, /wait-free gpu:/, 'the kill came after the wait');
      },
    },
    {
      name: 'during acquire (glm-code loading its model)',
      svc: 'glm-code',
      args: ['--load-ms', scaled(6000)],
      reached: async (run) => {
        await run.waitForLog('the load of glm-code to be accepted', (log) => log.includes(`> POST http://127.0.0.1:${port('glm-code')}/models/load 200`));
      },
      check: (log) => {
        assert.match(log, /wait-free gpu:/);
        assert.doesNotMatch(log, /load glm-code \(router\): ok|verify code/, 'the load had already finished');
      },
    },
  ];

  for (const phase of PHASES) {
    it(`kill -9 ${phase.name}: status tells the truth and reports the interrupted switch; the next switch recovers`, async function () {
      this.timeout(180_000);
      await setStartArgs(rig, phase.svc, phase.args);
      await stopUnit(rig, phase.svc);
      await switchTo(rig, 'rag');
      const historyBefore = readHistory(rig).length;

      const target = phase.target ?? 'code';
      const run = spawnCli(rig, ['switch', target, '--verbose']);
      await phase.reached(run);
      const atKill = run.stderr();
      process.kill(run.pid, 'SIGKILL');
      const killed = await run.done;
      assert.equal(killed.signal, 'SIGKILL');
      phase.check(atKill);

      // The dead switch left its lock and its in-progress marker.
      const lock = JSON.parse(readFileSync(join(rig.stateDir, 'switch.lock'), 'utf8')) as { pid: number; target?: string };
      assert.deepEqual({ pid: lock.pid, target: lock.target }, { pid: run.pid, target });
      assert.equal(readState(rig).switching?.pid, run.pid);

      const s = await status(rig);
      assert.equal(s.switching?.pid, run.pid, 'status does not report the interrupted switch');
      assert.equal(s.switching?.to, target);
      assert.equal(s.recorded_mode, 'rag');
      assert.notEqual(s.mode, 'rag', `status trusted the recorded mode: ${JSON.stringify(s.services)}`);
      proven(s, MODES);
      assert.ok(s.drift.length > 0, 'no drift reported for a half-done switch');
      const text = await cli(rig, ['status']);
      assert.match(text.stdout, new RegExp(`interrupted switch: rag → ${target} by PID ${run.pid}`));

      // The next switch breaks the stale lock, reconciles the half-done steps and gets there.
      const next = await cli(rig, ['switch', target, '--json']);
      assert.equal(next.code, 0, `recovery switch failed:\n${next.stdout}\n${next.stderr}`);
      const recovered = JSON.parse(next.stdout) as { mode: string; noop: boolean };
      assert.equal(recovered.mode, target);
      assert.ok(!existsSync(join(rig.stateDir, 'switch.lock')), 'the lock was not released');
      const state = readState(rig);
      assert.equal(state.switching, undefined);
      assert.equal(state.mode, target);
      const history = readHistory(rig);
      // A recovery with something left to do writes its record; one whose target the killed switch had
      // already reached (every release done) verifies it and has nothing to record.
      assert.equal(history.length, historyBefore + (recovered.noop ? 0 : 1), 'the killed switch wrote no record; the recovery wrote one if it did anything');
      if (!recovered.noop) assert.equal(history[history.length - 1].ok, true);
      const after = await status(rig);
      assert.equal(after.mode, target);
      assert.equal(after.switching, null);
      proven(after, MODES);
      await assertNoOrphans(rig);
    });
  }

  it('drift: services stopped or started behind gpumod’s back are seen by the next status, which never trusts the recorded mode', async function () {
    this.timeout(180_000);
    await switchTo(rig, 'rag');
    // Stopped behind its back.
    await rig.systemd.stop(rig.unit('vllm-hyde'), { timeoutMs: 30_000 });
    let s = await status(rig);
    assert.equal(s.recorded_mode, 'rag');
    assert.equal(s.mode, null);
    assert.equal(stateOf(s, 'vllm-hyde'), 'stopped');
    assert.ok(s.drift.some((d) => /vllm-hyde is stopped/.test(d)), `drift: ${JSON.stringify(s.drift)}`);
    const text = await cli(rig, ['status']);
    assert.match(text.stdout, /mode: \(none\) \(recorded rag, not what is observed\)/);
    assert.match(text.stdout, /drift: rag: vllm-hyde is stopped/);
    // The next switch starts from what is there.
    await switchTo(rig, 'rag');
    assert.equal((await status(rig)).mode, 'rag');

    // A record that lies is not believed either.
    const state = readState(rig);
    writeFileSync(join(rig.stateDir, 'state.json'), JSON.stringify({ ...state, mode: 'speak' }));
    s = await status(rig);
    assert.equal(s.recorded_mode, 'speak');
    assert.equal(s.mode, 'rag');

    // Started behind its back: blank means nothing runs.
    await switchTo(rig, 'blank');
    await rig.systemd.start(rig.unit('vllm-tts'), { timeoutMs: 30_000 });
    s = await until('vllm-tts to come up', async () => {
      const x = await status(rig);
      return stateOf(x, 'vllm-tts') === 'running' ? x : undefined;
    });
    assert.equal(s.recorded_mode, 'blank');
    assert.equal(s.mode, null);
    assert.ok(s.drift.some((d) => /vllm-tts/.test(d)), `drift: ${JSON.stringify(s.drift)}`);
    await switchTo(rig, 'blank');
    s = await status(rig);
    assert.equal(s.mode, 'blank');
    assert.equal(stateOf(s, 'vllm-tts'), 'stopped');
    await assertNoOrphans(rig);
  });
});
