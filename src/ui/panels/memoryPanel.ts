import * as vscode from 'vscode';
import { memoryMarkup } from '../../charts/memoryChart';
import { barsNow } from '../../charts/memoryModel';
import type { Controller } from '../controller';
import type { UiState } from '../viewModel';
import { ChartPanel } from './chartPanel';

export function memoryContent(s: UiState): string {
  if (!s.config) return memoryMarkup([], { reason: 'No valid gpumod configuration is loaded.' });
  if (!s.observation) return memoryMarkup([], { reason: 'Observing the machine…' });
  return memoryMarkup(barsNow(s.config, s.observation, s.measured));
}

/** "gpumod: Show GPU Memory": one stacked bar per card, following the controller's observations. */
export class MemoryPanel implements vscode.Disposable {
  private static instance: MemoryPanel | undefined;
  private readonly chart: ChartPanel;
  private readonly sub: vscode.Disposable;

  private constructor(controller: Controller) {
    this.chart = new ChartPanel('gpumod.memory', 'gpumod: GPU Memory', () => undefined, () => this.dispose());
    this.chart.render(memoryContent(controller.state));
    this.sub = controller.onDidChange((s) => this.chart.render(memoryContent(s)));
  }

  static show(controller: Controller): void {
    if (MemoryPanel.instance) MemoryPanel.instance.chart.reveal();
    else MemoryPanel.instance = new MemoryPanel(controller);
    void controller.refresh();
  }

  dispose(): void {
    if (MemoryPanel.instance === this) MemoryPanel.instance = undefined;
    this.sub.dispose();
    this.chart.dispose();
  }
}
