// Runs itself as child processes (GPUMOD_TEST_CHILD=…) to race for the lock and to die holding it.
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGpumodError } from '../../../src/errors';
import { LOCK_FILE, LockedError, acquireLock, holderAlive, readLock } from '../../../src/system/lock';
import { pidAlive, procStartTime } from '../../../src/system/pids';

async function childMain(role: string, dir: string): Promise<void> {
  if (role === 'holder') {
    await acquireLock(dir, { owner: { pid: process.pid, command: 'switch', target: 'rag' } });
    process.stdout.write('held\n');
    setInterval(() => undefined, 1000);
    return;
  }
  // contender: start at the agreed instant, report; the winner holds the lock until told to release.
  const at = Number(process.env.GPUMOD_TEST_START_AT);
  while (Date.now() < at) {
    /* spin: a timer would add scheduling jitter */
  }
  try {
    const release = await acquireLock(dir, { owner: { pid: process.pid, command: 'switch', target: 'code' } });
    process.stdout.write(`acquired ${process.pid}\n`);
    // Hold until the test has heard from every contender, so a late starter meets a live owner.
    const releaseFile = process.env.GPUMOD_TEST_RELEASE_FILE ?? '';
    for (let waited = 0; !existsSync(releaseFile) && waited < 15_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await release();
  } catch (e) {
    process.stdout.write(e instanceof LockedError ? `locked ${e.holder.pid}\n` : `error ${String(e)}\n`);
  }
}

function spawnSelf(role: string, dir: string, extra: Record<string, string> = {}): ChildProcess & { output: Promise<string> } {
  const child = spawn(process.execPath, [__filename], {
    env: { ...process.env, GPUMOD_TEST_CHILD: role, GPUMOD_TEST_DIR: dir, ...extra },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const output = new Promise<string>((res) => child.once('exit', () => res(out)));
  return Object.assign(child, { output });
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const pid = child.pid ?? 0;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return pid;
}

const role = process.env.GPUMOD_TEST_CHILD;
if (role === 'holder' || role === 'contender') {
  void childMain(role, process.env.GPUMOD_TEST_DIR ?? '');
} else {
  describe('system/lock', () => {
    let dir: string;
    const owner = { pid: process.pid, command: 'switch', target: 'rag' };
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'gpumod-lock-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('writes the owner into switch.lock and removes it on release', async () => {
      const release = await acquireLock(dir, { owner });
      const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as Record<string, unknown>;
      assert.equal(held.pid, process.pid);
      assert.equal(held.command, 'switch');
      assert.equal(held.target, 'rag');
      assert.equal(held.hostname, hostname());
      assert.ok(!Number.isNaN(Date.parse(String(held.startedAt))));
      assert.deepEqual((await readLock(dir))?.pid, process.pid);
      await release();
      await release(); // idempotent
      assert.deepEqual(readdirSync(dir), []);
    });

    it('refuses while a live process holds it, naming the holder', async function () {
      this.timeout(10_000);
      const holder = spawnSelf('holder', dir);
      try {
        await new Promise<void>((res) => holder.stdout?.once('data', () => res()));
        await assert.rejects(acquireLock(dir, { owner: { pid: process.pid, command: 'switch', target: 'code' } }), (e: unknown) => {
          assert.ok(e instanceof LockedError && isGpumodError(e, 'LOCKED'));
          assert.equal(e.message, `switch in progress by PID ${holder.pid} (→ rag)`);
          assert.equal(e.holder.pid, holder.pid);
          assert.equal(e.holder.target, 'rag');
          return true;
        });
      } finally {
        holder.kill('SIGKILL');
        await holder.output;
      }
    });

    it('breaks the stale lock of a killed process', async function () {
      this.timeout(10_000);
      const holder = spawnSelf('holder', dir);
      await new Promise<void>((res) => holder.stdout?.once('data', () => res()));
      holder.kill('SIGKILL');
      await holder.output;
      assert.equal((await readLock(dir))?.pid, holder.pid);
      const release = await acquireLock(dir, { owner });
      assert.equal((await readLock(dir))?.pid, process.pid);
      await release();
      assert.deepEqual(readdirSync(dir), []);
    });

    it('lets exactly one of many in-process contenders win', async () => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => acquireLock(dir, { owner })));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof LockedError);
      await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
    });

    it('lets exactly one of several processes racing over a stale lock win', async function () {
      this.timeout(20_000);
      const dead = await deadPid();
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, command: 'switch', target: 'x', startedAt: new Date().toISOString(), hostname: hostname() }));
      const startAt = String(Date.now() + 1000);
      const releaseFile = `${dir}.release`;
      const children = Array.from({ length: 6 }, () => spawnSelf('contender', dir, { GPUMOD_TEST_START_AT: startAt, GPUMOD_TEST_RELEASE_FILE: releaseFile }));
      await Promise.all(children.map((c) => new Promise((r) => c.stdout?.once('data', r))));
      writeFileSync(releaseFile, '');
      const outputs = (await Promise.all(children.map((c) => c.output))).map((o) => o.trim());
      rmSync(releaseFile, { force: true });
      const winners = outputs.filter((o) => o.startsWith('acquired'));
      assert.equal(winners.length, 1, outputs.join(' | '));
      const winner = winners[0].split(' ')[1];
      for (const o of outputs) if (!o.startsWith('acquired')) assert.equal(o, `locked ${winner}`);
      assert.ok(!existsSync(join(dir, LOCK_FILE)), 'the winner released the lock');
      assert.deepEqual(readdirSync(dir), [], 'no temporary or set-aside files remain');
    });

    it('takes a lock whose PID was recycled by another process', async () => {
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, command: 'switch', startedAt: '2020-01-01T00:00:00Z', hostname: hostname(), procStart: '1' }));
      const release = await acquireLock(dir, { owner });
      assert.notEqual((await readLock(dir))?.procStart, '1');
      await release();
    });

    it('breaks an unreadable lock file once it is old, and never removes a lock that is not its own', async () => {
      const lock = join(dir, LOCK_FILE);
      writeFileSync(lock, 'garbage');
      const old = new Date(Date.now() - 60_000);
      utimesSync(lock, old, old);
      const release = await acquireLock(dir, { owner });
      writeFileSync(lock, JSON.stringify({ pid: 1, command: 'someone else' }));
      await release();
      assert.ok(existsSync(lock));
    });

    it('names only the PID when there is no target', async () => {
      const release = await acquireLock(dir, { owner: { pid: process.pid, command: 'stop-all' } });
      await assert.rejects(acquireLock(dir, { owner }), (e: unknown) => e instanceof Error && e.message === `switch in progress by PID ${process.pid}`);
      await release();
    });
    describe('what sits at the lock path', () => {
      const refusedWithin = async (ms: number, pattern: RegExp): Promise<void> => {
        const t0 = Date.now();
        await assert.rejects(acquireLock(dir, { owner }), (e: unknown) => {
          assert.ok(isGpumodError(e, 'FILE_REFUSED'), String(e));
          assert.match(e.message, pattern);
          return true;
        });
        assert.ok(Date.now() - t0 < ms, `took ${Date.now() - t0} ms`);
      };

      it('a dangling symbolic link is refused at once, naming it and telling to remove it', async () => {
        symlinkSync(join(dir, 'nowhere'), join(dir, LOCK_FILE));
        await refusedWithin(1000, new RegExp(`${LOCK_FILE} is a symbolic link \\(to .*nowhere\\), not a regular file: gpumod never creates one there; remove it`));
      });

      it('a symbolic link to a file is refused too: the lock is never followed elsewhere', async () => {
        writeFileSync(join(dir, 'other'), JSON.stringify({ pid: 1 }));
        symlinkSync(join(dir, 'other'), join(dir, LOCK_FILE));
        await refusedWithin(1000, /is a symbolic link/);
      });

      it('a directory or a FIFO is refused with what it is, not a raw EISDIR or a hang', async () => {
        mkdirSync(join(dir, LOCK_FILE));
        await refusedWithin(1000, /switch\.lock is a directory, not a regular file: gpumod never creates one there; remove it$/);
        rmSync(join(dir, LOCK_FILE), { recursive: true });
        execFileSync('mkfifo', [join(dir, LOCK_FILE)]);
        await refusedWithin(1000, /switch\.lock is a FIFO \(named pipe\), not a regular file/);
      });
    });

    it('names the host of a lock taken on another host', async () => {
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4321, command: 'switch', target: 'rag', startedAt: new Date().toISOString(), hostname: 'other-box', procStart: '1' }));
      await assert.rejects(acquireLock(dir, { owner }), (e: unknown) => e instanceof LockedError && e.message === 'switch in progress by PID 4321 on host other-box (→ rag)');
    });

    it('takes a lock naming a live PID (PID 1) without a start time, or with another one: the PID was reused', async () => {
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, command: 'switch', startedAt: '2020-01-01T00:00:00Z', hostname: hostname() }));
      assert.equal(holderAlive((await readLock(dir))!), false);
      const release = await acquireLock(dir, { owner });
      assert.equal((await readLock(dir))?.procStart, procStartTime(process.pid));
      await release();
    });

    it('shows the text of a lock file printable and bounded', async () => {
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, command: 'x', target: `\u001b[2J\u001b]0;title\u0007rag${'!'.repeat(500)}`, hostname: hostname(), procStart: procStartTime(process.pid) }));
      await assert.rejects(acquireLock(dir, { owner }), (e: unknown) => {
        assert.ok(e instanceof LockedError);
        assert.match(e.message, /^switch in progress by PID \d+ \(→ rag!+…\)$/);
        assert.ok(e.message.length < 260);
        return true;
      });
    });

    it('pidAlive of a recorded process needs its start time to match', () => {
      assert.equal(pidAlive(1), true, 'PID 1 runs');
      assert.equal(pidAlive({ pid: 1 }), false, 'but a record without a start time is not trusted');
      assert.equal(pidAlive({ pid: process.pid, procStart: procStartTime(process.pid) }), true);
      assert.equal(pidAlive({ pid: process.pid, procStart: '1' }), false);
      assert.match(procStartTime(process.pid) ?? '', /^\d+$/);
    });
  });
}
