// What the bench measures on this machine besides the switches: how long the fakes' Node processes take
// to start (part of the fakes' critical path, not of gpumod's overhead: a real server's start-up figure
// already holds its own process start), and the size of the packaged extension.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeKind } from '../../demo/profile';
import { median } from '../../src/engine/history';
import { spawnHolder } from '../fakes/lib/holder';
import { startFake } from '../fakes/lib/spawnFake';

const TRIES = 3;

/** Each kind's fake with nothing to wait for: it listens as soon as Node and its own children are up. */
const QUICK_ARGS: Record<FakeKind, string[]> = {
  vllm: ['--startup-ms', '0'],
  llamaRouter: ['--models', 'calibration', '--startup-ms', '0'],
  hookServer: ['--startup-ms', '0', '--load-on-start', 'off'],
  plainServer: ['--startup-ms', '0'],
};

export interface SpawnFloors {
  spawnMs: Partial<Record<FakeKind, number>>;
  holderMs: number;
}

/** Median ms from spawning each kind of fake until it listens (vLLM's includes its EngineCore child), and to spawn a holder child. */
export async function measureSpawn(kinds: FakeKind[]): Promise<SpawnFloors> {
  const spawnMs: Partial<Record<FakeKind, number>> = {};
  for (const kind of [...new Set(kinds)]) {
    const times: number[] = [];
    for (let i = 0; i < TRIES; i++) {
      const t0 = performance.now();
      const f = await startFake(kind, QUICK_ARGS[kind]);
      times.push(performance.now() - t0);
      await f.stop('SIGKILL');
    }
    spawnMs[kind] = median(times);
  }
  const holder: number[] = [];
  for (let i = 0; i < TRIES; i++) {
    const t0 = performance.now();
    const h = await spawnHolder('gpumod-bench-calibration', { listen: true });
    holder.push(performance.now() - t0);
    h.kill();
    await h.exited;
  }
  return { spawnMs, holderMs: median(holder) };
}

export interface PackageSize {
  bytes: number;
  ms: number;
}

/** Runs `npm run package` (vsce, offline) in the checkout and measures gpumod.vsix. */
export function measurePackage(repo: string): Promise<PackageSize> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile('npm', ['run', 'package'], { cwd: repo, timeout: 300000, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) return reject(new Error(`npm run package failed: ${err.message}\n${stderr}`));
      const ms = performance.now() - t0;
      try {
        const st = statSync(join(repo, 'gpumod.vsix'));
        if (st.mtimeMs < Date.now() - ms - 1000) return reject(new Error('npm run package left an old gpumod.vsix'));
        resolve({ bytes: st.size, ms });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}
