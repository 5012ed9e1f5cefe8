import type { Controller } from '../controller';
import { MemoryPanel } from '../panels/memoryPanel';

/** `gpumod: Show GPU Memory`: the panel of stacked bars (also the GPU row's click). */
export async function showGpuMemory(controller: Controller): Promise<void> {
  MemoryPanel.show(controller);
}
