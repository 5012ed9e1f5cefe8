import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, symlinkSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGpumodError } from '../../../src/errors';
import { ifPresent, readRegularFile, readTail } from '../../../src/system/regularFile';

/** Resolves with what `p` settled to, or rejects if that takes longer than `ms` (a FIFO blocks forever). */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`still blocked after ${ms} ms`)), ms).unref())]);
}

function refusal(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isGpumodError(e, 'FILE_REFUSED'), String(e));
    assert.match(e.message, pattern);
    return true;
  };
}

describe('system/regularFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-regular-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a regular file whole, and a missing one is ENOENT (undefined through ifPresent)', async () => {
    writeFileSync(join(dir, 'a'), 'hello');
    assert.equal((await readRegularFile(join(dir, 'a'), { maxBytes: 5 })).toString(), 'hello');
    assert.equal(await ifPresent(readRegularFile(join(dir, 'none'), { maxBytes: 5 })), undefined);
  });

  it('refuses a FIFO without blocking on it, naming the path and what it is', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(within(2000, readRegularFile(fifo, { maxBytes: 1024 })), refusal(new RegExp(`^${fifo} is a FIFO \\(named pipe\\), not a regular file$`)));
    await assert.rejects(within(2000, readTail(fifo, { maxBytes: 1024, hint: 'remove it' })), refusal(/is a FIFO \(named pipe\), not a regular file: remove it$/));
  });

  it('refuses /dev/zero and a directory without reading them', async () => {
    await assert.rejects(within(2000, readRegularFile('/dev/zero', { maxBytes: 1024 })), refusal(/^\/dev\/zero is a character device, not a regular file$/));
    await assert.rejects(readRegularFile(dir, { maxBytes: 1024 }), refusal(/is a directory, not a regular file$/));
  });

  it('refuses a file over the bound, by its size and without reading it', async () => {
    const big = join(dir, 'big');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 5 * 1024 * 1024 * 1024); // sparse: 5 GiB that a whole read would try to hold
    closeSync(fd);
    await assert.rejects(within(2000, readRegularFile(big, { maxBytes: 1024 * 1024 })), refusal(/is 5368709120 bytes, over the limit of 1048576 bytes/));
  });

  it('follows a symbolic link unless told not to; then it names the link and its target, dangling or not', async () => {
    writeFileSync(join(dir, 'real'), 'x');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
    assert.equal((await readRegularFile(join(dir, 'link'), { maxBytes: 10 })).toString(), 'x');
    await assert.rejects(readRegularFile(join(dir, 'link'), { maxBytes: 10, noFollow: true }), refusal(/link is a symbolic link \(to .*real\), not a regular file$/));
    await assert.rejects(readRegularFile(join(dir, 'dangling'), { maxBytes: 10, noFollow: true }), refusal(/dangling is a symbolic link \(to .*gone\), not a regular file$/));
  });

  it('reads only the end of a long file, from its first whole line', async () => {
    const f = join(dir, 'h');
    const fd = openSync(f, 'w');
    ftruncateSync(fd, 600 * 1024 * 1024);
    writeSync(fd, 'torn-line-start\nline1\nline2\n', 600 * 1024 * 1024 - 8);
    closeSync(fd);
    const text = await within(5000, readTail(f, { maxBytes: 14 }));
    assert.equal(text, 'line1\nline2\n');
    // A window that starts exactly at a line keeps that line.
    writeFileSync(f, 'aaaa\nbbbb\ncccc\n');
    assert.equal(await readTail(f, { maxBytes: 10 }), 'bbbb\ncccc\n');
    assert.equal(await readTail(f, { maxBytes: 100 }), 'aaaa\nbbbb\ncccc\n');
  });

  it('refuses a directory swapped in for a file', async () => {
    mkdirSync(join(dir, 'd.json'));
    await assert.rejects(readTail(join(dir, 'd.json'), { maxBytes: 10 }), refusal(/d\.json is a directory/));
  });
});
