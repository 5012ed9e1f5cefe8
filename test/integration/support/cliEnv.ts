import { join } from 'node:path';
import { REPO } from '../../../demo/workstation';
import { managerEnv } from './testManager';

/**
 * What the CLI needs to run against this run's manager and a fake GPU: the manager's variables, the
 * config, the fake nvidia-smi over the fakes' files in `gpuDir`, its own state directory under `dir`.
 */
export function fakeGpuCliEnv(dir: string, gpuDir: string, config: string, totalMb = 24564): Record<string, string> {
  return {
    ...managerEnv(),
    GPUMOD_CONFIG: config,
    GPUMOD_NVIDIA_SMI: join(REPO, 'test/fakes/bin/nvidia-smi'),
    FAKE_GPU_DIR: gpuDir,
    FAKE_GPU_TOTAL_MB: String(totalMb),
    XDG_STATE_HOME: join(dir, 'state'),
  };
}
