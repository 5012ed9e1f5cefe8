// `npm run demo` as a user runs it: the built out/demo/main.js as a child process, then checks that
// it left nothing behind: once with a sandboxed manager of its own (root only), once in the session
// the integration run uses, and once interrupted.
import * as assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { managerEnv, managerKind, managerSystemd } from '../support/testManager';

const DEMO = join(process.cwd(), 'out/demo/main.js');

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the demo; `interrupt` sends SIGINT once stdout matches it. */
function runDemo(args: string[], interrupt?: RegExp, timeoutMs = 150_000, env: NodeJS.ProcessEnv = process.env): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (interrupt && !sent && interrupt.test(stdout)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // exit 1: none
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** Everything the demo may have made, checked from its own report of where it put things. */
function assertNothingLeft(run: DemoRun, env: NodeJS.ProcessEnv = process.env): void {
  const scratch = /scratch: (\/\S+)/.exec(run.stdout)?.[1];
  if (!scratch) assert.fail(`no scratch directory in the output:\n${run.stdout}`);
  assert.equal(existsSync(scratch), false, `${scratch} is left behind`);
  // The fakes' command lines carry --gpu-dir SCRATCH/workstation/gpu.
  assert.deepEqual(pgrep(join(scratch, 'workstation')), [], 'fake servers of the demo still run');
  assert.deepEqual(pgrep(`${join(process.cwd(), 'out/test/fakes')}.*${scratch}`), [], 'fakes of out/test/fakes still run');

  const manager = /manager: (.*)/.exec(run.stdout)?.[1] ?? '';
  if (manager.startsWith('a sandboxed')) {
    const pid = Number(/PID (\d+)/.exec(manager)?.[1]);
    assert.ok(pid > 0, manager);
    assert.equal(alive(pid), false, `the demo's systemd --user (PID ${pid}) still runs`);
    // userManager.sh puts the manager and its services under …/gpumod-ID.slice, ID from its directory.
    const id = createHash('md5').update(join(scratch, 'manager')).digest('hex').slice(0, 12);
    for (const root of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd', '/sys/fs/cgroup']) {
      assert.equal(existsSync(join(root, 'user.slice/user-0.slice', `gpumod-${id}.slice`)), false, `cgroup gpumod-${id}.slice left under ${root}`);
    }
    const ours = pgrep('systemd --user').filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`gpumod-${id}.slice`);
      } catch {
        return false;
      }
    });
    assert.deepEqual(ours, [], 'an extra systemd --user of the demo is left');
  } else {
    assert.match(manager, /your systemd user session/);
    const dir = join(env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.()}`, 'systemd/user');
    const left = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('gpumod-demo-')) : [];
    assert.deepEqual(left, [], `unit files left in ${dir}`);
  }
}

describe('npm run demo (out/demo/main.js)', function () {
  this.timeout(180_000);

  it('switches the route with gpumod and with stop/start, prints the comparison, exits 0 and leaves nothing', async () => {
    // As root the demo's own sandbox is tried here (the session is the next test's); a user gets the session.
    const run = await runDemo(['--time-scale', '50', ...(process.getuid?.() === 0 ? ['--manager', 'sandbox'] : [])]);
    assert.equal(run.code, 0, `exit ${run.code} ${run.signal ?? ''}\n${run.stdout}\n${run.stderr}`);
    // Piped: plain text, no colour codes.
    assert.doesNotMatch(run.stdout, /\x1b\[/);
    const rows = new Map<string, { naive: number; gpumod: number; speedUp: number; what: string }>();
    for (const m of run.stdout.matchAll(/^(\w+ → \w+) +([\d.]+) s +([\d.]+) s +([\d.]+)x +(.*)$/gm)) {
      rows.set(m[1], { naive: Number(m[2]), gpumod: Number(m[3]), speedUp: Number(m[4]), what: m[5] });
    }
    assert.deepEqual([...rows.keys()], ['blank → code', 'code → rag', 'rag → speak', 'speak → code', 'code → blank'], run.stdout);
    const codeToRag = rows.get('code → rag');
    assert.ok(codeToRag && codeToRag.speedUp > 1, `code → rag is not faster with gpumod: ${JSON.stringify(codeToRag)}`);
    // On the 32 GB card code → rag unloads glm-code rather than stopping it, and speak → code loads it again.
    assert.match(codeToRag.what, /slept [^;]*glm-code/);
    assert.match(rows.get('speak → code')?.what ?? '', /woke [^;]*glm-code/);
    assert.match(run.stdout, /^total +[\d.]+ s +[\d.]+ s +[\d.]+x/m);
    // Each plan is printed before its switch.
    assert.match(run.stdout, /code → rag: .*estimate/);
    assertNothingLeft(run);
  });

  it("uses a reachable user session, touching nothing of it but its own gpumod-demo-* runtime units", async () => {
    // The integration run's manager stands in for a user's login session here.
    const session = managerEnv();
    // The manager's own unit files: the sandbox's, or (a session) the user's real ones.
    const unitsDir = managerKind() === 'session' ? join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd/user') : join(session.XDG_CONFIG_HOME, 'systemd/user');
    const listUnits = (): string[] => (existsSync(unitsDir) ? readdirSync(unitsDir).sort() : []);
    const before = listUnits();
    const runtimeUnits = join(session.XDG_RUNTIME_DIR, 'systemd/user');
    const hadRuntimeUnits = existsSync(runtimeUnits);
    const env = { ...process.env, ...session };
    const run = await runDemo(['--time-scale', '50'], undefined, 150_000, env);
    assert.equal(run.code, 0, `exit ${run.code} ${run.signal ?? ''}\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /manager: your systemd user session .*units gpumod-demo-\* in .*\/run\/systemd\/user/);
    assert.match(run.stdout, /units: +gpumod-demo-vllm-chat\.service, /);
    assert.match(run.stdout, /^total /m);
    assertNothingLeft(run, env);
    const known = execFileSync('systemctl', ['--user', 'list-units', '--all', '--plain', '--no-legend', 'gpumod-demo-*'], { env, encoding: 'utf8' });
    assert.equal(known.trim(), '', `the session still knows demo units:\n${known}`);
    assert.deepEqual(listUnits(), before, "the user's own unit files changed");
    assert.equal(existsSync(runtimeUnits), hadRuntimeUnits, `${runtimeUnits} was created and left behind`);
    // The session's manager is the user's: still running.
    assert.equal((await managerSystemd().show('gpumod-demo-nothing.service')).loadState, 'not-found');
  });

  it('cleans up everything on Ctrl-C in the middle of a switch', async () => {
    // Interrupted while rag's services cold-start.
    const run = await runDemo(['--time-scale', '50'], /^ {2}code → rag$/m, 90_000);
    assert.equal(run.code, 130, `exit ${run.code} ${run.signal ?? ''}\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stderr, /SIGINT: stopping and cleaning up/);
    assert.doesNotMatch(run.stdout, /^total /m);
    assertNothingLeft(run);
  });
});
