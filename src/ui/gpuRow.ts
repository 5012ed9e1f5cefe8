import { usedOfTotal } from '../charts/memoryChart';
import { barsNow } from '../charts/memoryModel';
import { escapeMd, memoryTooltip } from '../charts/memoryText';
import type { Config } from '../config/types';
import { gpuIndexes } from '../engine/budget';
import type { Observation } from '../engine/types';
import type { UiState } from './viewModel';

export interface GpuRowModel {
  /** The card's index; undefined for the one row saying no GPU is visible. */
  index?: number;
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
  if (!obs.gpu.available) return [{ label: 'GPU', description: 'not visible', tooltip: escapeMd(obs.gpu.reason), accessible: `GPU not visible: ${obs.gpu.reason}` }];
  return barsNow(s.config, obs, s.measured).map((b) => ({
    index: b.gpu,
    label: `GPU ${b.gpu}`,
    description: usedOfTotal(b),
    tooltip: memoryTooltip(b),
    accessible: `GPU ${b.gpu}, ${b.name}, ${usedOfTotal(b)} used`,
  }));
}

/** A card's row as the parent of its services: its GPU row, or one saying why its figures are missing. */
export function cardRowModel(s: UiState, index: number): GpuRowModel {
  const row = gpuRowModels(s).find((r) => r.index === index);
  if (row) return row;
  const obs = s.observation;
  const label = `GPU ${index}`;
  if (!obs) return { index, label, description: '', tooltip: '', accessible: label };
  if (!obs.gpu.available) return { index, label, description: 'not visible', tooltip: escapeMd(obs.gpu.reason), accessible: `${label} not visible: ${obs.gpu.reason}` };
  const why = `nvidia-smi shows no GPU ${index}, yet gpumod.yaml places services on it`;
  return { index, label, description: 'not seen', tooltip: why, accessible: `${label}: ${why}` };
}

export interface CardGroup {
  index: number;
  /** Its services in config order; one spread over several cards is in each of their groups. */
  services: string[];
}

/** The cards nvidia-smi shows and those the config names, in order, each with the services on it. */
export function cardGroups(config: Config, obs: Observation | undefined): CardGroup[] {
  const services = [...config.services.values()];
  return gpuIndexes(config, obs).map((index) => ({ index, services: services.filter((svc) => svc.gpus.includes(index)).map((svc) => svc.name) }));
}
