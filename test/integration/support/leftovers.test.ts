// The tier's own promise: a run under a user's session leaves no unit, process or file behind, when
// it ends and when it is interrupted, and where no manager is reachable it stops with one line.
// Each case runs the tier (setup.js + run.nested.js) as a child, with this run's manager as its session.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { KIND_VAR, managerEnv, PORT_VAR, RUN_VAR, runLeftovers, SCRATCH_VAR } from './testManager';

const MOCHA = require.resolve('mocha/bin/mocha.js');
const OUT = join(process.cwd(), 'out/test/integration');

interface Nested {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  run?: string;
  scratch?: string;
  child?: number;
}

/** The environment a user's shell would have: the manager reachable as a session, none of this run's variables. */
function sessionShell(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const v of [KIND_VAR, RUN_VAR, SCRATCH_VAR, PORT_VAR]) delete env[v];
  return env;
}

function runNested(env: NodeJS.ProcessEnv, opts: { interrupt?: boolean; prefix?: string[] } = {}): Promise<Nested> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, MOCHA, '--timeout', '120000', '--require', join(OUT, 'setup.js'), join(OUT, 'support/run.nested.js')];
    const [file, ...args] = [...(opts.prefix ?? []), ...argv];
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Nested = { code: null, signal: null, stdout: '', stderr: '' };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the nested run did not end:\n${out.stdout}\n${out.stderr}`));
    }, 110_000);
    child.stdout.on('data', (d: Buffer) => {
      out.stdout += d;
      const m = /NESTED-READY run=(\S+) scratch=(\S+) child=(\d*)/.exec(out.stdout);
      if (m && out.run === undefined) {
        [out.run, out.scratch, out.child] = [m[1], m[2], Number(m[3])];
        if (opts.interrupt) child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (out.stderr += d));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ ...out, code, signal });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the integration tier under a session: what a run leaves behind', function () {
  this.timeout(150_000);
  const vars = (): Record<string, string> => {
    const m = managerEnv();
    return { XDG_RUNTIME_DIR: m.XDG_RUNTIME_DIR, ...(m.DBUS_SESSION_BUS_ADDRESS ? { DBUS_SESSION_BUS_ADDRESS: m.DBUS_SESSION_BUS_ADDRESS } : {}) };
  };

  function assertClean(r: Nested): void {
    assert.ok(r.run && r.scratch, `the nested run never got going:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /gpumod integration: the session's systemd user manager/, r.stderr);
    assert.deepEqual(runLeftovers(vars(), r.run, r.scratch), []);
    assert.ok(r.child && r.child > 0, `no child PID: ${r.stdout}`);
    assert.equal(alive(r.child), false, `the unit's child ${r.child} still runs`);
  }

  it('removes its units, drop-ins, processes and scratch directory when it ends', async () => {
    const r = await runNested(sessionShell(vars()));
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assertClean(r);
  });

  it('removes them too when interrupted with Ctrl-C', async () => {
    const r = await runNested(sessionShell({ ...vars(), NESTED_HOLD: '1' }), { interrupt: true });
    assert.ok(r.code !== 0, `exit ${r.code} ${r.signal}`);
    assertClean(r);
  });

  it('stops with one line saying what it needs where no manager is reachable and it is not root', async () => {
    const noManager = sessionShell({ XDG_RUNTIME_DIR: '/nonexistent' });
    delete noManager.DBUS_SESSION_BUS_ADDRESS;
    // As root, the same run as an ordinary user (nobody): root would fall back to a sandbox.
    const prefix = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
    const r = await runNested(noManager, { prefix });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      'gpumod integration: needs a systemd user manager: `systemctl --user` reaches none from here (log in to a session, or `loginctl enable-linger $USER`), and without one only root can start a sandboxed manager',
    ]);
    assert.equal(r.run, undefined, 'it ran a test');
  });
});
