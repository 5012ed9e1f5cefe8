// Files gpumod reads that are not what they should be, through the real CLI: a FIFO (would block
// forever), /dev/zero (would fill memory), a directory, a 600 MB history (would overflow a string),
// a lock that is a symbolic link or taken on another host, a hostile in-progress marker. Each ends
// within a bound, with a precise message and exit code.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { installUnit, managerEnv, removeUnit, testPort, unitName } from '../support/testManager';
import { gpumod, type CliRun } from './runCli';

const PORT = testPort(1110);
const UNIT = unitName('cli-state-plain');
const PLAIN = join(process.cwd(), 'out/test/fakes/plainServer.js');
/** Each command answers well within this on a loaded 2-core machine; the old code never answered (FIFO) or took minutes. */
const BOUND_MS = 10_000;
const T0 = Date.UTC(2026, 0, 1);

const step = (ms: number): Record<string, unknown> => ({ service: 'plain', action: 'start', phase: 'acquire', startMs: 0, ms, result: 'ok' });
const record = (i: number, over: Record<string, unknown> = {}): string =>
  JSON.stringify({ kind: 'switch', from: null, to: 'm', startedAt: T0 + i * 60_000, totalMs: 900, estimateMs: 1000, ok: true, rolledBack: false, cancelled: false, steps: [step(800)], ...over });

describe('gpumod and its files when they are not what they should be (the CLI as a process)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'gpumod-h2-'));
  const config = join(dir, 'gpumod.yaml');
  let stateDir: string;
  let env: Record<string, string>;

  async function run(args: string[]): Promise<CliRun & { ms: number }> {
    const t0 = Date.now();
    const r = await gpumod(args, env, 3 * BOUND_MS);
    const ms = Date.now() - t0;
    assert.ok(ms < BOUND_MS, `gpumod ${args.join(' ')} took ${ms} ms (exit ${r.code}): ${r.stderr}`);
    return { ...r, ms };
  }

  before(async () => {
    await installUnit(UNIT, { execStart: [process.execPath, PLAIN, '--port', String(PORT), '--startup-ms', '0', '--vram-mb', '10'] });
    writeFileSync(config, `services:\n  plain: { driver: systemd, unit: ${UNIT}, port: ${PORT}, vram_mb: 10 }\nmodes:\n  m: { services: [plain] }\n  none: { services: [] }\n`);
  });
  after(async () => {
    await removeUnit(UNIT);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    const state = join(dir, `state-${Math.random().toString(36).slice(2)}`);
    stateDir = join(state, 'gpumod');
    mkdirSync(stateDir, { recursive: true });
    env = { ...managerEnv(), GPUMOD_CONFIG: config, XDG_STATE_HOME: state };
  });

  describe('the config', () => {
    for (const [what, path, kind] of [
      ['/dev/zero', () => '/dev/zero', 'a character device'],
      ['a FIFO', () => mkfifo(join(dir, 'fifo.yaml')), 'a FIFO \\(named pipe\\)'],
      ['a directory', () => dir, 'a directory'],
    ] as const) {
      it(`${what} is refused at once, exit 2, naming it`, async () => {
        const p = path();
        const r = await run(['validate', '--config', p]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`^${p}:1:1: cannot read the config: ${p} is ${kind}, not a regular file$`, 'm'));
      });
    }
  });

  it('a FIFO as state.json: status and plan answer, warning that it is ignored', async () => {
    mkfifo(join(stateDir, 'state.json'));
    for (const args of [['status'], ['plan', 'm']]) {
      const r = await run(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /\[warn\] ignoring the state file: .*state\.json is a FIFO \(named pipe\), not a regular file/);
    }
  });

  it('a FIFO as history.jsonl: plan and history exit 1 at once, naming it and what to do', async () => {
    mkfifo(join(stateDir, 'history.jsonl'));
    for (const args of [['plan', 'm'], ['history']]) {
      const r = await run(args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^gpumod: .*history\.jsonl is a FIFO \(named pipe\), not a regular file: gpumod writes this file itself; remove it$/m);
    }
  });

  it('a 600 MB history is read from its end: history, plan and switch answer, out-of-range records are ignored and counted, and the next switch trims the file', async () => {
    const file = join(stateDir, 'history.jsonl');
    const tail = [...Array.from({ length: 30 }, (_, i) => record(i)), record(30, { startedAt: 1e20 }), record(31, { steps: [step(1e308)] }), record(32)].join('\n') + '\n';
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 600 * 1024 * 1024); // sparse: cheap on disk, 600 MB to a whole-file read
    writeSync(fd, `{"torn": \n${tail}`, 600 * 1024 * 1024);
    closeSync(fd);

    const j = await run(['history', '--limit', '5', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual((JSON.parse(j.stdout) as Array<{ startedAt: number }>).map((r) => r.startedAt), [28, 29, 31, 32].map((i) => T0 + i * 60_000), "the last 5 lines but the one dated 1e20");
    assert.match(j.stderr, /history: ignored 1 record\(s\) with a wrong shape or out-of-range times/);
    const t = await run(['history', '--limit', '3']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /2026-01-01 00:32:00 .* ok/);

    const p = await run(['plan', 'm']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /start\s+plain\s+~800 ms/, 'the estimate is the median of the valid records, not 1e308');
    assert.doesNotMatch(p.stdout, /e\+\d/);

    const s = await run(['switch', 'm']);
    assert.equal(s.code, 0, s.stderr + s.stdout);
    assert.ok(statSync(file).size < 1024 * 1024, 'the append rewrote the history from its end');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(JSON.parse(lines[lines.length - 1]).to, 'm');
    const back = await run(['switch', 'none']);
    assert.equal(back.code, 0, back.stderr + back.stdout);
  });

  describe('the lock', () => {
    it('a dangling symbolic link is refused at once with exit 1, not 5 s of spinning and "contended"', async () => {
      symlinkSync(join(dir, 'nowhere'), join(stateDir, 'switch.lock'));
      const r = await run(['switch', 'm']);
      assert.ok(r.ms < 4000, `took ${r.ms} ms`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /switch\.lock is a symbolic link \(to .*nowhere\), not a regular file: gpumod never creates one there; remove it/);
    });

    it('a directory is refused with what it is, not a raw EISDIR', async () => {
      mkdirSync(join(stateDir, 'switch.lock'));
      const r = await run(['switch', 'm']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /switch\.lock is a directory, not a regular file: gpumod never creates one there; remove it/);
      assert.doesNotMatch(r.stderr, /EISDIR/);
    });

    it('a lock taken on another host names the host (exit 3)', async () => {
      writeFileSync(join(stateDir, 'switch.lock'), JSON.stringify({ pid: 1, command: 'gpumod switch rag', target: 'rag', startedAt: new Date().toISOString(), hostname: 'other-box', procStart: '1' }));
      const r = await run(['switch', 'm']);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /^gpumod: switch in progress by PID 1 on host other-box \(→ rag\)$/m);
    });

    it('a lock naming PID 1 of this host without its start time is stale: the switch goes ahead', async () => {
      writeFileSync(join(stateDir, 'switch.lock'), JSON.stringify({ pid: 1, command: 'gpumod switch rag', startedAt: new Date().toISOString(), hostname: hostname() }));
      const r = await run(['switch', 'none']);
      assert.equal(r.code, 0, r.stderr);
    });
  });

  describe('the in-progress marker in state.json', () => {
    const state = (switching: unknown): void => writeFileSync(join(stateDir, 'state.json'), JSON.stringify({ mode: 'none', at: T0, services: {}, switching }));

    it('PID 1 (alive, but not the switch that wrote the marker) reads as an interrupted switch', async () => {
      state({ from: 'none', to: 'm', pid: 1, startedAt: T0 });
      const r = await run(['status']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^interrupted switch: none → m by PID 1 \(the next switch reconciles it\)$/m);
      assert.doesNotMatch(r.stdout, /switch in progress/);
    });

    it('fields of the wrong type drop the marker; escape sequences never reach the terminal', async () => {
      state({ from: { a: 1 }, to: 'm', pid: 1, startedAt: T0 });
      const typed = await run(['status']);
      assert.equal(typed.code, 0, typed.stderr);
      assert.doesNotMatch(typed.stdout, /\[object Object\]|switch/);
      state({ from: '\u001b[2J\u001b]0;pwned\u0007none', to: `m\u001b[31m${'x'.repeat(5000)}`, pid: 1, startedAt: T0 });
      const escaped = await run(['status']);
      assert.equal(escaped.code, 0, escaped.stderr);
      assert.doesNotMatch(escaped.stdout, /[\u0000-\u0008\u000b-\u001f\u007f]/);
      const line = escaped.stdout.split('\n').find((l) => l.startsWith('interrupted switch')) ?? '';
      assert.match(line, /^interrupted switch: none → mx+… by PID 1/);
      assert.ok(line.length < 300, `${line.length} characters`);
    });
  });
});

function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}
