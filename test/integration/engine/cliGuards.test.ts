// What the CLI guarantees around switches, on the 32 GB workstation with real units: a plan touches
// nothing; one switch at a time (exit 3 naming the holder's PID); Ctrl-C cancels, rolls back and
// leaves the previous mode; single-service actions change only their service. vllm-embedding and
// vllm-tts start slowly here (6 s and 8 s) so that a second command surely meets a switch under way.
import * as assert from 'node:assert/strict';
import { PROFILE } from '../../../demo/profile';
import { waitFor } from '../support/wait';
import { assertSwitchShape, assertVram, byName, startWorkstation, switchAndCheck, type Harness, type Status, type SwitchJson } from './harness';
import { testPort } from '../support/testManager';

const TIME_SCALE = 50;

describe('engine: the CLI around a switch (32 GB, real units)', function () {
  this.timeout(120_000);
  let h: Harness;

  before(async () => {
    h = await startWorkstation('32', testPort(700), {
      prefix: 'eg-',
      timeScale: TIME_SCALE,
      extraArgs: { 'vllm-embedding': ['--startup-ms', String(6000 * TIME_SCALE)], 'vllm-tts': ['--startup-ms', String(8000 * TIME_SCALE)] },
    });
  });
  after(async () => {
    await h?.teardown();
  });

  /** Everything a plan must leave alone: each unit's systemd state and PID, the observed states, the card, the state files. */
  async function fingerprint(): Promise<{ fixed: unknown; changedUs: number[] }> {
    const units = await Promise.all(PROFILE.map((s) => h.unit(s.name)));
    const st = await h.status();
    return {
      fixed: {
        units: units.map((u) => [u.unit, u.activeState, u.subState, u.mainPid]),
        services: st.services.map((s) => [s.name, s.state, s.sleep, s.vram_mb]),
        used: st.gpu[0].used_mb,
        state: h.stateFile() ?? null,
        history: (await h.history()).length,
      },
      changedUs: units.map((u) => u.stateChangeUs),
    };
  }

  function assertUntouched(before: Awaited<ReturnType<typeof fingerprint>>, after: Awaited<ReturnType<typeof fingerprint>>, what: string): void {
    assert.deepEqual(after.fixed, before.fixed, `${what} changed something`);
    // The adapter derives the time of the last state change from a monotonic clock: two reads differ by microseconds.
    after.changedUs.forEach((us, i) => assert.ok(Math.abs(us - before.changedUs[i]) < 20_000, `${what}: unit ${PROFILE[i].name} changed state`));
  }

  /** The other services are exactly as they were (state, sleep depth, main PID). */
  async function assertOnlyChanged(service: string, before: Status, beforePids: Map<string, number>): Promise<Status> {
    const after = await h.status();
    const was = byName(before);
    for (const s of after.services) {
      if (s.name === service) continue;
      assert.deepEqual([s.state, s.sleep], [was.get(s.name)?.state, was.get(s.name)?.sleep], `${s.name} was not to change`);
      assert.equal((await h.unit(s.name)).mainPid, beforePids.get(s.name), `${s.name}'s process was not to change`);
    }
    return after;
  }

  async function pids(): Promise<Map<string, number>> {
    return new Map(await Promise.all(PROFILE.map(async (s) => [s.name, (await h.unit(s.name)).mainPid] as const)));
  }

  it('gpumod plan rag --json touches nothing, from blank and from code', async () => {
    for (const from of ['blank', 'code']) {
      if (from === 'code') await switchAndCheck(h, 'code', 23000);
      const before = await fingerprint();
      const r = await h.cli(['plan', 'rag', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const plan = JSON.parse(r.stdout) as { from: string | null; to: string; noop: boolean; estimate_ms: number; steps: Array<{ service: string; action: string }> };
      assert.deepEqual([plan.from, plan.to, plan.noop], [from, 'rag', false]);
      const did = plan.steps.filter((s) => s.action !== 'keep').map((s) => `${s.action} ${s.service}`).sort();
      const starts = ['start vllm-chat', 'start vllm-embedding', 'start vllm-hyde', 'start vllm-reranker'];
      assert.deepEqual(did, from === 'code' ? ['sleep glm-code', ...starts] : starts);
      assert.ok(plan.estimate_ms > 0);
      assertUntouched(before, await fingerprint(), `gpumod plan rag (from ${from})`);
    }
  });

  it('a second switch while one runs exits 3 naming the PID that holds the lock; so does a service action', async () => {
    const first = h.spawnCli(['switch', 'rag', '--json']);
    const pid = first.child.pid;
    // The in-progress marker is written under the lock, before anything changes.
    await waitFor('the first switch to hold the lock', () => ((h.stateFile()?.switching as { pid?: number } | undefined)?.pid === pid ? true : undefined), 15_000);
    const second = await h.cli(['switch', 'speak', '--json']);
    assert.equal(second.code, 3, `exit ${second.code}: ${second.stderr}`);
    assert.match(second.stderr, new RegExp(`switch in progress by PID ${pid}\\b`));
    assert.equal(second.stdout, '');
    const action = await h.cli(['sleep', 'vllm-embedding-code']);
    assert.equal(action.code, 3, action.stderr);
    assert.match(action.stderr, new RegExp(`switch in progress by PID ${pid}\\b`));

    const r = await first.done;
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as SwitchJson;
    assertSwitchShape(json, 'rag');
    assert.equal(json.ok, true);
    const st = await h.status();
    assert.equal(st.mode, 'rag');
    assert.equal(byName(st).get('vllm-embedding-code')?.state, 'running', 'the refused action did nothing');
    assertVram(st, '32', 18000 + 3000 + 300);
  });

  it('Ctrl-C mid-switch: exit 1, rolled back, the machine back in the previous mode', async () => {
    const before = await h.status();
    const historyBefore = (await h.history()).length;
    const run = h.spawnCli(['switch', 'speak', '--json']);
    // Past the release phase and into vllm-tts's 8 s cold start.
    await waitFor('vllm-tts to be starting', async () => ((await h.unit('vllm-tts')).activeState === 'active' ? true : undefined), 20_000, 50);
    assert.equal((h.stateFile()?.switching as { pid?: number } | undefined)?.pid, run.child.pid);
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 1, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /cancelling/);
    const json = JSON.parse(r.stdout) as SwitchJson;
    assertSwitchShape(json, 'speak');
    assert.deepEqual([json.ok, json.cancelled, json.rolled_back, json.mode], [false, true, true, 'rag']);
    assert.ok(json.steps.some((s) => s.phase === 'rollback'), 'the rollback steps are in the timeline');

    const after = await h.status();
    assert.equal(after.mode, 'rag');
    assert.equal(after.switching, null);
    assert.deepEqual(
      after.services.map((s) => [s.name, s.state, s.sleep ?? null]),
      before.services.map((s) => [s.name, s.state, s.sleep ?? null]),
      'every service back where it was',
    );
    assertVram(after, '32', 18000 + 3000 + 300);
    assert.deepEqual([h.stateFile()?.mode, h.stateFile()?.switching], ['rag', undefined]);
    const history = await h.history();
    assert.equal(history.length, historyBefore + 1);
    const last = history[history.length - 1];
    assert.deepEqual([last.kind, last.to, last.ok, last.cancelled, last.rolledBack], ['switch', 'speak', false, true, true]);
  });

  it('sleep, wake, stop and start of one service change only that service', async () => {
    const expect: Array<[string, string, string | undefined]> = [
      ['sleep', 'sleeping', 'l1'],
      ['wake', 'running', undefined],
      ['stop', 'stopped', undefined],
      ['start', 'running', undefined],
    ];
    for (const [action, state, sleep] of expect) {
      const before = await h.status();
      const beforePids = await pids();
      const historyBefore = (await h.history()).length;
      const r = await h.cli([action, 'vllm-chat', '--json']);
      assert.equal(r.code, 0, `${action}: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as { ok: boolean; service: string; action: string };
      assert.deepEqual([out.ok, out.service, out.action], [true, 'vllm-chat', action]);
      const after = await assertOnlyChanged('vllm-chat', before, beforePids);
      const chat = byName(after).get('vllm-chat');
      assert.deepEqual([chat?.state, chat?.sleep], [state, sleep], `after ${action}`);
      assertVram(after, '32');
      // rag holds exactly when chat runs.
      assert.equal(after.mode, state === 'running' ? 'rag' : null, `mode after ${action}`);
      const history = await h.history();
      assert.equal(history.length, historyBefore + 1);
      assert.deepEqual([history.at(-1)?.kind, history.at(-1)?.service, history.at(-1)?.ok], ['service', 'vllm-chat', true]);
    }
  });
});
