import * as assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { backToBlank, observedGpumod } from '../support/gpumod';
import { sampleTree, treeCpu, type TreeCpu } from '../support/procCpu';
import { until } from '../support/until';
import type { GpumodApi } from '../../../src/ui/api';
import type { StartupTimes } from '../../../src/ui/costMeter';
import { MAX_BACKOFF_FACTOR } from '../../../src/ui/pollBackoff';

/**
 * What gpumod costs a window, against issue 13's goals: activate() returns within 50 ms, and
 * polling an idle machine with the window focused takes at most 1% of one core, counting the
 * extension host and every process it starts. Runs in a fresh window in front of the demo
 * workstation; prints the figures and writes them to bench-results/extension-costs.json.
 */

const GOALS = { activateMs: 50, idleCpuPercent: 1 };
const IDLE_SECONDS = 60;
/** Idle means the window has done nothing for this long: the switch before it is over. */
const SETTLE_SECONDS = 30;

/** VS Code's own marks around gpumod's loading and activation (internal to the pinned VS Code 1.100). */
function vscodeMarks(): { codeLoadingMs?: number; activationMs?: number } {
  const marks = (globalThis as { MonacoPerformanceMarks?: { getMarks(): { name: string; startTime: number }[] } }).MonacoPerformanceMarks?.getMarks() ?? [];
  const at = (name: string): number | undefined => marks.find((m) => m.name === `code/extHost/${name}/gpumod.gpumod`)?.startTime;
  const span = (a: string, b: string): number | undefined => {
    const [x, y] = [at(a), at(b)];
    return x !== undefined && y !== undefined ? y - x : undefined;
  };
  return { codeLoadingMs: span('willLoadExtensionCode', 'didLoadExtensionCode'), activationMs: span('willActivateExtension', 'didActivateExtension') };
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * For finding where the idle minute's CPU goes (GPUMOD_HOST_CPU_PROFILE=1): profiles the extension
 * host (V8's sampling profiler, which then costs more than unprofiled) until the returned function is called.
 */
async function startProfile(): Promise<() => Promise<CpuProfile>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    session.disconnect();
    return profile;
  };
}

/**
 * The extension host runs VS Code's own extensions and machinery too: its CPU is not all gpumod's.
 * gpumod's share is the time of the samples whose stack runs through its bundle (dist/extension.js,
 * dist/vendor/*), plus the garbage collector's time in proportion to gpumod's share of the JS time.
 */
function gpumodShare(profile: CpuProfile): { oursMs: number; busyMs: number; gcMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ours = new Map<number, boolean>();
  const isOurs = (id: number): boolean => {
    const known = ours.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id);
    const url = n?.callFrame.url ?? '';
    const p = parent.get(id);
    const v = /\/dist\/(extension|vendor\/[a-z]+)\.js$/.test(url) || (p !== undefined && isOurs(p));
    ours.set(id, v);
    return v;
  };
  let oursUs = 0;
  let busyUs = 0;
  let gcUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const name = byId.get(id)?.callFrame.functionName ?? '';
    if (name === '(idle)') return;
    if (name === '(garbage collector)') gcUs += dt;
    else busyUs += dt;
    if (isOurs(id)) oursUs += dt;
  });
  const gcShare = busyUs > 0 ? (gcUs * oursUs) / busyUs : 0;
  return { oursMs: (oursUs + gcShare) / 1000, busyMs: (busyUs + gcUs) / 1000, gcMs: gcUs / 1000 };
}

/**
 * Activation as VS Code's Running Extensions view counts it: loading the code (VS Code's own mark
 * pair, 1 ms resolution, which includes compiling the bundle) plus activate(). Without the marks,
 * the bundle's own evaluation time stands in for the loading (compiling it is then not counted).
 */
function activationWithLoading(startup: StartupTimes): { ms: number; loadingMs?: number; by: string } {
  const vs = vscodeMarks().codeLoadingMs;
  const loadingMs = vs ?? startup.evaluateMs;
  const by = vs !== undefined ? "VS Code's marks" : 'the bundle itself (no VS Code marks)';
  return { ms: Math.round(((loadingMs ?? 0) + startup.activateMs) * 100) / 100, loadingMs, by };
}

describe('what gpumod costs a window', function () {
  this.timeout(300000);
  let api: GpumodApi;
  let startup: StartupTimes;
  let idle: (TreeCpu & { gpumodPercent: number; mode?: string; observations: number; pollIntervalSeconds: number; focused: boolean; afterSwitch: { seconds: number; percent: number; parts: Record<string, number> } }) | undefined;
  const results = join(vscode.extensions.getExtension('gpumod.gpumod')!.extensionPath, 'bench-results', 'extension-costs.json');

  before(async () => {
    api = await observedGpumod();
    startup = api.costs().startup;
  });

  after(() => {
    const report = {
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((l) => Math.round(l * 100) / 100) },
      goals: GOALS,
      startup: { ...startup, vscode: vscodeMarks(), withLoadingMs: activationWithLoading(startup).ms },
      idle,
      pass: {
        activate: startup.activateMs <= GOALS.activateMs && activationWithLoading(startup).ms <= GOALS.activateMs,
        idle: idle ? idle.gpumodPercent <= GOALS.idleCpuPercent : undefined,
      },
    };
    mkdirSync(join(results, '..'), { recursive: true });
    writeFileSync(results, JSON.stringify(report, null, 2) + '\n');
    console.log(`extension costs written to ${results}`);
  });

  it(`activation takes at most ${GOALS.activateMs} ms: activate() itself, and with loading the code before it`, () => {
    const withLoading = activationWithLoading(startup);
    console.log(`  activation: activate() ${startup.activateMs} ms, with loading the code ${withLoading.ms} ms (goal ≤ ${GOALS.activateMs}; loading ${withLoading.loadingMs} ms by ${withLoading.by}, of which evaluating the bundle ${startup.evaluateMs} ms); status bar shown at ${startup.firstPaintMs} ms, the observed mode at ${startup.observedPaintMs} ms; load average ${loadavg()[0].toFixed(2)}`);
    assert.equal(api.costs().pid, process.pid, 'the API reports the extension host this test runs in');
    assert.ok(startup.firstPaintMs !== undefined && startup.firstPaintMs <= startup.activateMs, `the status bar item is shown during activate() (${startup.firstPaintMs} ms)`);
    assert.ok(startup.observedPaintMs !== undefined && startup.observedPaintMs > startup.activateMs, 'the first observation comes after activate() returned');
    assert.ok(startup.activateMs <= GOALS.activateMs, `activate() took ${startup.activateMs} ms, goal ≤ ${GOALS.activateMs} ms`);
    assert.ok(withLoading.ms <= GOALS.activateMs, `loading the code and activate() took ${withLoading.ms} ms, goal ≤ ${GOALS.activateMs} ms`);
  });

  it(`idle polling with the window focused costs ≤ ${GOALS.idleCpuPercent}% of one core (its observations in the extension host and its child processes, ${IDLE_SECONDS} s)`, async function () {
    // Idle in a mode with servers running, so each poll probes them as it would at a desk.
    await vscode.commands.executeCommand('gpumod.switchMode', 'code');
    await until('code, settled', () => api.mode() === 'code' && !api.switching(), 90000);
    assert.equal(vscode.window.state.focused, true, 'the window is focused: an unfocused window does not poll');
    const pollIntervalSeconds = vscode.workspace.getConfiguration('gpumod').get<number>('pollIntervalSeconds') ?? 5;
    const unfocused: number[] = [];
    const watching = vscode.window.onDidChangeWindowState((w) => void (w.focused || unfocused.push(Date.now())));
    try {
      // The switch's aftermath is measured and shown, but it is not idling: the garbage collector
      // shrinking the heap, the polling still at its base interval after the switch's last look.
      const s0 = sampleTree(process.pid);
      await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
      const before = api.costs();
      const profile = process.env.GPUMOD_HOST_CPU_PROFILE ? await startProfile() : undefined;
      const a = sampleTree(process.pid);
      // Nothing of gpumod's runs meanwhile but its polling (one timer, its child processes).
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
      const b = sampleTree(process.pid);
      const share = profile ? gpumodShare(await profile()) : undefined;
      const after = api.costs();
      const observations = after.observations - before.observations;
      const settle = treeCpu(s0, a, process.pid);
      const cpu = treeCpu(a, b, process.pid);
      // The host also runs VS Code's own work: gpumod's part is the CPU its observations took (start to
      // end, rendering included), plus its child processes (systemctl, nvidia-smi).
      const childrenPercent = Math.max(0, cpu.percent - cpu.rootPercent);
      const hostMs = after.observeCpuMs - before.observeCpuMs;
      const oursPercent = Math.round(((hostMs / 1000 / cpu.seconds) * 100 + childrenPercent) * 1000) / 1000;
      idle = { ...cpu, gpumodPercent: oursPercent, mode: api.mode(), observations, pollIntervalSeconds, focused: unfocused.length === 0 && vscode.window.state.focused, afterSwitch: { seconds: SETTLE_SECONDS, percent: settle.percent, parts: settle.parts } };
      const parts = Object.entries(cpu.parts).map(([k, v]) => `${k} ${v}%`).join(', ');
      const profiled = share ? `; profiled: gpumod's frames ${Math.round(share.oursMs)} ms of ${Math.round(share.busyMs)} ms busy (${Math.round(share.gcMs)} ms collecting garbage), the profiler's own cost included` : '';
      console.log(`  after the switch to code, the first ${SETTLE_SECONDS} s: ${settle.percent}% of one core (not idle yet, not checked)`);
      console.log(
        `  idle polling: gpumod ${oursPercent}% of one core over ${cpu.seconds.toFixed(1)} s (goal ≤ ${GOALS.idleCpuPercent}%): its observations in the extension host ${Math.round(hostMs)} ms, its child processes ${childrenPercent.toFixed(3)}%; ` +
          `the whole extension host and children ${cpu.percent}% (${parts})${profiled}; ${observations} observations (every ${pollIntervalSeconds} s, up to ${MAX_BACKOFF_FACTOR}x that while nothing changes) in mode ${api.mode()}; live children: ${cpu.liveChildren.join(', ') || 'none'}; load average ${loadavg()[0].toFixed(2)}`,
      );
      assert.deepEqual(unfocused, [], 'the window stayed focused');
      assert.equal(vscode.window.state.focused, true, 'the window stayed focused');
      // The figure means something only if the window really polled all along (backing off while idle).
      const fewest = Math.floor(IDLE_SECONDS / (pollIntervalSeconds * MAX_BACKOFF_FACTOR));
      assert.ok(observations >= fewest, `${observations} observations in ${IDLE_SECONDS} s, at least ${fewest} expected: polling stalled`);
      assert.ok(oursPercent <= GOALS.idleCpuPercent, `idle polling took ${oursPercent}% of one core, goal ≤ ${GOALS.idleCpuPercent}%`);
    } finally {
      watching.dispose();
    }
  });

  it('leaves the machine in blank', async () => {
    await backToBlank(api);
  });
});
