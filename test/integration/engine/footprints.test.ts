// Learned footprints through the real CLI: a fake vLLM under the real user manager holds more VRAM
// than its config declares; once gpumod has observed it (by cgroup, through the fake nvidia-smi), the
// next plan admits by the measured figure and says so. A new ExecStart forgets what was learned.
import * as assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../../demo/workstation';
import { installUnit, removeUnit, scratchDir, testPort, unitName } from '../support/testManager';
import { gpumod } from '../cli/runCli';
import { fakeGpuCliEnv } from '../support/cliEnv';

const VLLM = join(REPO, 'out/test/fakes/vllm.js');

interface PlanJson {
  steps: Array<{ service: string; action: string; vram_after_mb: number; vram_source?: string }>;
  budgets: Array<{ after_mb: number; sources: { measured: string[]; declared: string[]; unknown: string[] } }>;
  refused: unknown;
}

describe('learned footprints (CLI, a fake vLLM under the real user manager, fake nvidia-smi)', function () {
  this.timeout(90_000);
  const PORT = testPort(1140);
  const unit = unitName('footprint-chat');
  let env: Record<string, string>;
  let dir: string;
  let gpuDir: string;

  const vllm = (vramMb: number): string[] => [
    process.execPath, VLLM, '--port', String(PORT), '--model', 'chat', '--vram-mb', String(vramMb), '--vram-asleep-mb', '1100',
    '--startup-ms', '50', '--sleep-ms-l1', '20', '--wake-ms-l1', '20', '--stop-ms', '50', '--gpu-dir', gpuDir,
  ];

  before(async () => {
    dir = join(scratchDir(), 'footprints');
    gpuDir = join(dir, 'gpu');
    mkdirSync(gpuDir, { recursive: true });
    await installUnit(unit, { execStart: vllm(9000) });
    const config = join(dir, 'gpumod.yaml');
    writeFileSync(
      config,
      `services:
  chat: { driver: vllm, unit: ${unit}, port: ${PORT}, vram_mb: 7000, sleep: l1, sleep_vram_mb: 1500 }
modes:
  serve: { services: [chat] }
  blank: { services: [] }
`,
    );
    env = fakeGpuCliEnv(dir, gpuDir, config);
  });

  after(async () => {
    await removeUnit(unit);
  });

  async function cli(args: string[]): Promise<string> {
    const r = await gpumod(args, env, 60_000);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  const plan = async (mode: string): Promise<PlanJson> => JSON.parse(await cli(['plan', mode, '--json'])) as PlanJson;
  const chat = (p: PlanJson): PlanJson['steps'][number] => p.steps.find((s) => s.service === 'chat')!;

  it('plans by the declared 7000 MB until it has seen the server, then by the 9000 MB it measured, and says so', async () => {
    const cold = await plan('serve');
    assert.deepEqual([chat(cold).action, chat(cold).vram_after_mb, chat(cold).vram_source], ['start', 7000, 'declared']);

    await cli(['switch', 'serve', '--json']);
    // The plan's own observation sees the server running and healthy: it learns, then plans.
    const leaving = await plan('blank');
    assert.equal(chat(leaving).action, 'sleep');
    const stored = JSON.parse(readFileSync(join(dir, 'state/gpumod/footprints.json'), 'utf8')) as Record<string, { vram: Record<string, { mb: number }> }>;
    assert.equal(stored.chat.vram.awake.mb, 9000);

    await cli(['switch', 'blank', '--json']);
    const back = await plan('serve');
    assert.deepEqual([chat(back).action, chat(back).vram_after_mb, chat(back).vram_source], ['wake', 9000, 'measured']);
    assert.deepEqual(back.budgets[0].sources, { measured: ['chat'], declared: [], unknown: [] });
    assert.match(await cli(['plan', 'serve']), /GPU 0: .* → 9\.0 GB of 24\.6 GB \(margin [^)]*\) \(measured\)/);
    // Asleep it was measured too: the residue by cgroup, the host RAM of the unit's processes.
    const asleep = JSON.parse(readFileSync(join(dir, 'state/gpumod/footprints.json'), 'utf8')) as Record<string, { vram: Record<string, { mb: number }>; ram: Record<string, { mb: number }> }>;
    assert.equal(asleep.chat.vram.l1.mb, 1100);
    assert.ok(asleep.chat.ram.l1.mb > 0, JSON.stringify(asleep.chat));
  });

  it('doctor warns that vram_mb 7000 and sleep_vram_mb 1500 are more than 20% off the 9000 and 1100 MB measured, with the fixes', async () => {
    const r = await gpumod(['doctor', 'chat', '--json'], env, 60_000);
    const found = (JSON.parse(r.stdout) as { findings: Array<{ check: string; ok: boolean; message: string; fix: string | null }> }).findings.filter((f) => f.check === 'footprint');
    assert.equal(found.length, 2, r.stdout);
    assert.ok(found.every((f) => !f.ok));
    assert.match(found[0].message, /^vram_mb 7000 is 22% below what gpumod measured awake: 9000 MB/);
    assert.match(found[0].fix ?? '', /^set vram_mb: 9000 for chat/);
    assert.match(found[1].message, /^sleep_vram_mb 1500 is 36% above what gpumod measured asleep \(l1\): 1100 MB/);
  });

  it('a new ExecStart (another --vram-mb) forgets the footprint: back to the declared figure until seen again', async () => {
    await cli(['switch', 'blank', '--json']);
    await installUnit(unit, { execStart: vllm(12_000) });
    await cli(['stop', 'chat']);
    const p = await plan('serve');
    assert.deepEqual([chat(p).action, chat(p).vram_after_mb, chat(p).vram_source], ['start', 7000, 'declared']);
    await cli(['switch', 'serve', '--json']);
    await cli(['switch', 'blank', '--json']);
    const again = await plan('serve');
    assert.deepEqual([chat(again).vram_after_mb, chat(again).vram_source], [12_000, 'measured']);
  });
});
