// `gpumod doctor` as a process against units of the fakes under the real sandbox user manager: a
// well set-up vLLM and llama.cpp router pass; each way of getting a unit wrong is found, with its fix.
// The vLLM units run test/samples/doctor/vllmServe.cjs, which takes real vLLM flags and environment
// (--enable-sleep-mode, VLLM_SERVER_DEV_MODE=1, no --host = 0.0.0.0) and runs the fake accordingly,
// so the unit files read like a real vLLM unit and the servers behave like one.
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeRegExp as esc, installUnit, managerEnv, managerSystemd, removeUnit, unitName } from '../support/testManager';
import { waitFor } from '../support/wait';
import { gpumod } from './runCli';

const REPO = process.cwd();
const VLLM_SERVE = join(REPO, 'test/samples/doctor/vllmServe.cjs');
const ROUTER = join(REPO, 'out/test/fakes/llamaRouter.js');
const PLAIN = join(REPO, 'out/test/fakes/plainServer.js');

interface JsonFinding {
  service: string;
  check: string;
  ok: boolean;
  severity: string;
  message: string;
  fix: string | null;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** True once something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(undefined));
  });
}

describe('gpumod doctor (the CLI as a process, units of the fakes under a real user manager)', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'gpumod-doctor-'));
  const config = join(dir, 'gpumod.yaml');
  const units = ['good', 'nodev', 'noflag', 'open', 'squatted', 'squatter', 'router', 'router-bad', 'expandable'].map((n) => unitName(`doctor-${n}`));
  let env: Record<string, string>;
  let byService: Map<string, JsonFinding[]>;
  let exitAll: number;
  let textAll: string;

  const node = process.execPath;
  const vllm = (port: number, ...flags: string[]): string[] => [node, VLLM_SERVE, ...flags, '--port', String(port), '--model', 'm', '--startup-ms', '0', '--vram-mb', '100', '--vram-asleep-mb', '10'];

  before(async () => {
    const [pGood, pNodev, pNoflag, pOpen, pSquat, pRouter, pRouterBad, pExp] = await freePorts(8);
    const models = join(dir, 'models');
    mkdirSync(models);
    writeFileSync(join(models, 'GLM-4.5-Air-Q4.gguf'), '');
    const dev = { VLLM_SERVER_DEV_MODE: '1' };
    await installUnit(unitName('doctor-good'), { execStart: vllm(pGood, '--enable-sleep-mode', '--host', '127.0.0.1'), env: dev });
    await installUnit(unitName('doctor-nodev'), { execStart: vllm(pNodev, '--enable-sleep-mode', '--host', '127.0.0.1') });
    await installUnit(unitName('doctor-noflag'), { execStart: vllm(pNoflag, '--host', '127.0.0.1'), env: dev });
    await installUnit(unitName('doctor-open'), { execStart: vllm(pOpen, '--enable-sleep-mode'), env: dev });
    await installUnit(unitName('doctor-squatted'), { execStart: vllm(pSquat, '--enable-sleep-mode', '--host', '127.0.0.1'), env: dev });
    await installUnit(unitName('doctor-squatter'), { execStart: [node, PLAIN, '--port', String(pSquat), '--startup-ms', '0'] });
    await installUnit(unitName('doctor-router'), {
      execStart: [node, ROUTER, '--models-dir', models, '--no-models-autoload', '--host', '127.0.0.1', '--port', String(pRouter), '--startup-ms', '0'],
    });
    await installUnit(unitName('doctor-expandable'), {
      execStart: vllm(pExp, '--enable-sleep-mode', '--host', '127.0.0.1'),
      env: { ...dev, PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' },
    });
    await installUnit(unitName('doctor-router-bad'), { execStart: [node, ROUTER, '--models', 'GLM-4.5-Air-Q4', '--port', String(pRouterBad), '--startup-ms', '0'] });
    writeFileSync(
      config,
      `services:
  good:       { driver: vllm, unit: ${unitName('doctor-good')}, port: ${pGood}, vram_mb: 100, sleep: l1 }
  nodev:      { driver: vllm, unit: ${unitName('doctor-nodev')}, port: ${pNodev}, vram_mb: 100, sleep: l1 }
  noflag:     { driver: vllm, unit: ${unitName('doctor-noflag')}, port: ${pNoflag}, vram_mb: 100, sleep: l2 }
  open:       { driver: vllm, unit: ${unitName('doctor-open')}, port: ${pOpen}, vram_mb: 100, sleep: l1 }
  squatted:   { driver: vllm, unit: ${unitName('doctor-squatted')}, port: ${pSquat}, vram_mb: 100, sleep: l1 }
  missing:    { driver: vllm, unit: ${unitName('doctor-missing')}, port: ${pRouterBad + 1}, vram_mb: 100 }
  router:     { driver: llamacpp, unit: ${unitName('doctor-router')}, port: ${pRouter}, vram_mb: 100, model: GLM-4.5-Air-Q4 }
  router-bad: { driver: llamacpp, unit: ${unitName('doctor-router-bad')}, port: ${pRouterBad}, vram_mb: 100, model: GLM-4.5-Air-Q4 }
  expandable: { driver: vllm, unit: ${unitName('doctor-expandable')}, port: ${pExp}, vram_mb: 100, sleep: l1 }
modes:
  m: { services: [good] }
`,
    );
    const sd = managerSystemd();
    for (const [unit, port] of [
      [unitName('doctor-good'), pGood],
      [unitName('doctor-nodev'), pNodev],
      [unitName('doctor-open'), pOpen],
      [unitName('doctor-squatter'), pSquat],
      [unitName('doctor-router'), pRouter],
    ] as const) {
      await sd.start(unit, { timeoutMs: 15_000 });
      await waitFor(`${unit} listening on ${port}`, () => listening(port), 15_000);
    }
    env = { ...managerEnv(), GPUMOD_CONFIG: config };
    const all = await gpumod(['doctor', '--json'], env);
    exitAll = all.code;
    const parsed = JSON.parse(all.stdout) as { ok: boolean; findings: JsonFinding[] };
    byService = new Map();
    for (const f of parsed.findings) byService.set(f.service, [...(byService.get(f.service) ?? []), f]);
    const text = await gpumod(['doctor'], env);
    assert.equal(text.code, exitAll);
    textAll = text.stdout;
  });

  after(async () => {
    for (const u of units) await removeUnit(u);
    rmSync(dir, { recursive: true, force: true });
  });

  const failed = (service: string): string[] => (byService.get(service) ?? []).filter((f) => !f.ok).map((f) => `${f.check}:${f.severity}`);
  const finding = (service: string, check: string): JsonFinding => {
    const f = byService.get(service)?.find((x) => x.check === check);
    if (!f) assert.fail(`no ${check} finding for ${service}: ${JSON.stringify(byService.get(service))}`);
    return f;
  };

  it('passes a well set-up vLLM and llama.cpp router, and exits 0 when only they are checked', async () => {
    assert.deepEqual(failed('good'), []);
    assert.deepEqual(
      byService.get('good')?.map((f) => f.check),
      ['unit', 'sleep-flag', 'dev-mode', 'alloc-conf', 'host', 'port-flag', 'port', 'endpoint'],
    );
    assert.match(finding('good', 'port').message, new RegExp(`served by ${esc(unitName('doctor-good'))} \\(PID \\d+, 127\\.0\\.0\\.1\\)`));
    assert.match(finding('good', 'endpoint').message, /GET \/is_sleeping answers \(awake\)/);
    assert.deepEqual(failed('router'), []);
    assert.match(finding('router', 'endpoint').message, /GET \/models lists GLM-4\.5-Air-Q4 \(unloaded\)/);
    const r = await gpumod(['doctor', 'good', 'router'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /2 services checked: no problems\./);
  });

  it('finds dev mode missing in the unit and on the running server (/is_sleeping 404)', () => {
    assert.deepEqual(failed('nodev'), ['dev-mode:error', 'endpoint:error']);
    assert.match(finding('nodev', 'dev-mode').fix ?? '', /Environment=VLLM_SERVER_DEV_MODE=1/);
    assert.match(finding('nodev', 'endpoint').message, /GET \/is_sleeping answered 404.*dev mode missing/);
  });

  it('finds a sleeping vLLM started without --enable-sleep-mode', () => {
    assert.deepEqual(failed('noflag'), ['sleep-flag:error']);
    assert.match(finding('noflag', 'sleep-flag').fix ?? '', /add --enable-sleep-mode to ExecStart=/);
    assert.match(finding('noflag', 'port').message, /port \d+ is free/);
  });

  it('finds a vLLM listening on every interface (no --host) although its port is its own', () => {
    assert.deepEqual(failed('open'), ['host:error']);
    // Judged from the server's own socket, and the reason named from its command line.
    assert.match(finding('open', 'host').message, /listens on 0\.0\.0\.0, every interface: reachable from the network \(no --host: vLLM binds 0\.0\.0\.0\)/);
    assert.match(finding('open', 'host').fix ?? '', /add --host 127\.0\.0\.1/);
    assert.match(finding('open', 'port').message, new RegExp(`served by ${esc(unitName('doctor-open'))} \\(PID \\d+, 0\\.0\\.0\\.0\\)`));
  });

  it('finds the port taken by another unit, naming the unit', () => {
    assert.deepEqual(failed('squatted'), ['port:error']);
    assert.match(finding('squatted', 'port').message, new RegExp(`port \\d+ is taken by PID \\d+ \\(node\\) of ${esc(unitName('doctor-squatter'))}`));
  });

  it('finds a unit that does not exist', () => {
    assert.deepEqual(failed('missing'), ['unit:error']);
    assert.match(finding('missing', 'unit').message, new RegExp(`unit not found: ${esc(unitName('doctor-missing'))}`));
    assert.match(finding('missing', 'unit').fix ?? '', /create it .* or fix `unit:`/);
  });

  it('finds a llama.cpp router without --models-dir and with autoload', () => {
    assert.deepEqual(failed('router-bad'), ['router:error', 'autoload:error']);
  });

  it("finds expandable segments in the unit's allocator settings, with the fix", () => {
    assert.deepEqual(failed('expandable'), ['alloc-conf:error']);
    assert.match(finding('expandable', 'alloc-conf').message, /^PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True: with expandable_segments:True vLLM's sleep frees nothing/);
    assert.match(finding('expandable', 'alloc-conf').fix ?? '', /remove expandable_segments:True from PYTORCH_CUDA_ALLOC_CONF/);
  });

  it('exits 1 and prints each problem with its fix', () => {
    assert.equal(exitAll, 1);
    assert.match(textAll, new RegExp(`^nodev \\(vllm, ${esc(unitName('doctor-nodev'))}, port \\d+\\)$`, 'm'));
    assert.match(textAll, /^ {2}ERROR dev-mode +VLLM_SERVER_DEV_MODE=1 is not set/m);
    assert.match(textAll, /^ +fix: add Environment=VLLM_SERVER_DEV_MODE=1/m);
    assert.match(textAll, /9 services checked: 9 errors, 0 warnings\./);
  });
});
