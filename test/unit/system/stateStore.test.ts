// Runs itself as a child process (GPUMOD_TEST_CHILD=atomic-writer) to be killed in the middle of writes.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGpumodError } from '../../../src/errors';
import { readJsonFile, writeFileAtomic, writeJsonFileAtomic } from '../../../src/system/stateStore';

/** Child: rewrites FILE with ever larger valid JSON documents until killed. */
async function atomicWriter(file: string): Promise<void> {
  for (let i = 1; ; i++) {
    await writeJsonFileAtomic(file, { generation: i, pad: 'x'.repeat(200_000 + (i % 7) * 100_000) });
    if (i === 3) process.stdout.write('writing\n');
  }
}

if (process.env.GPUMOD_TEST_CHILD === 'atomic-writer') {
  void atomicWriter(process.env.GPUMOD_TEST_FILE ?? '');
} else {
  describe('system/stateStore', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'gpumod-state-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('writes, replaces and reads JSON, creating the directory', async () => {
      const file = join(dir, 'sub/state.json');
      await writeJsonFileAtomic(file, { mode: 'rag' });
      assert.deepEqual(await readJsonFile(file), { mode: 'rag' });
      await writeFileAtomic(file, '{"mode":"code"}');
      assert.deepEqual(await readJsonFile(file), { mode: 'code' });
      assert.deepEqual(readdirSync(join(dir, 'sub')), ['state.json']);
    });

    it('reads a missing file as undefined and a malformed one as CONFIG_INVALID naming it', async () => {
      assert.equal(await readJsonFile(join(dir, 'none.json')), undefined);
      writeFileSync(join(dir, 'bad.json'), '{"mode":');
      await assert.rejects(readJsonFile(join(dir, 'bad.json')), (e: unknown) => isGpumodError(e, 'CONFIG_INVALID') && e.message.includes('bad.json'));
    });

    it('leaves the previous valid file when the writer is killed mid-write', async function () {
      this.timeout(20_000);
      const file = join(dir, 'state.json');
      await writeJsonFileAtomic(file, { generation: 0 });
      for (let round = 0; round < 5; round++) {
        const child = spawn(process.execPath, [__filename], {
          env: { ...process.env, GPUMOD_TEST_CHILD: 'atomic-writer', GPUMOD_TEST_FILE: file },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        await new Promise<void>((res) => child.stdout.once('data', () => res()));
        await new Promise((r) => setTimeout(r, 5 + round * 7));
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
        const v = JSON.parse(readFileSync(file, 'utf8')) as { generation: number };
        assert.ok(Number.isInteger(v.generation), `round ${round}: a complete document`);
      }
      // Only the target and, possibly, the temporary file of an interrupted write remain.
      assert.ok(readdirSync(dir).every((n) => n === 'state.json' || /^\.state\.json\.\d+\.[0-9a-f]+\.tmp$/.test(n)));
    });
  });
}
