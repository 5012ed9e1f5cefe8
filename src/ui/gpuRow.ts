import { usedOfTotal } from '../charts/memoryChart';
import { barsNow } from '../charts/memoryModel';
import { memoryTooltip } from '../charts/memoryText';
import type { UiState } from './viewModel';

export interface GpuRowModel {
  label: string;
  /** "21.3/32.6 GB". */
  description: string;
  /** Markdown: the card as a bar of block characters and a line per holder. */
  tooltip: string;
  /** What a screen reader says for the row. */
  accessible: string;
}

/** The services view's rows for the GPUs: a tree item cannot draw, so the bar is text and a click opens the chart. */
export function gpuRowModels(s: UiState): GpuRowModel[] {
  const obs = s.observation;
  if (!obs || !s.config) return [];
  if (!obs.gpu.available) return [{ label: 'GPU', description: 'not visible', tooltip: obs.gpu.reason.replace(/([\\`*_[\]<>])/g, '\\$1'), accessible: `GPU not visible: ${obs.gpu.reason}` }];
  return barsNow(s.config, obs, s.measured).map((b) => ({
    label: `GPU ${b.gpu}`,
    description: usedOfTotal(b),
    tooltip: memoryTooltip(b),
    accessible: `GPU ${b.gpu}, ${b.name}, ${usedOfTotal(b)} used`,
  }));
}
