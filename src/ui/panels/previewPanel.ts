import * as vscode from 'vscode';
import { barsAfter, barsNow } from '../../charts/memoryModel';
import { previewMarkup } from '../../charts/previewChart';
import type { Config } from '../../config/types';
import { measuredNow } from '../../engine/footprints';
import type { Preview } from '../../engine/switcher';
import { ChartPanel } from './chartPanel';

export function previewContent(config: Config, mode: string, p: Preview): string {
  const obs = p.observation;
  return previewMarkup({
    from: p.from,
    to: mode,
    plan: p.plan,
    before: barsNow(config, obs, measuredNow(p.footprints, config, obs)),
    after: barsAfter(config, p.plan, obs),
  });
}

/**
 * The Switch Mode preview in full (each card now and after the plan, the steps): opened from the
 * quick pick's item button beside the pick, without taking its focus, or from "gpumod: Preview Switch".
 */
export class PreviewPanel implements vscode.Disposable {
  private static instance: PreviewPanel | undefined;
  private readonly chart: ChartPanel;

  private constructor(preserveFocus: boolean) {
    this.chart = new ChartPanel('gpumod.preview', 'gpumod: Switch Preview', () => undefined, () => this.dispose(), vscode.ViewColumn.Active, preserveFocus);
  }

  static show(config: Config, mode: string, p: Preview, opts: { preserveFocus?: boolean } = {}): void {
    const panel = PreviewPanel.instance ?? new PreviewPanel(opts.preserveFocus ?? false);
    PreviewPanel.instance = panel;
    panel.chart.panel.title = `gpumod: preview ${p.from ?? '(no mode)'} → ${mode}`;
    panel.chart.render(previewContent(config, mode, p));
    panel.chart.reveal(opts.preserveFocus ?? false);
  }

  dispose(): void {
    if (PreviewPanel.instance === this) PreviewPanel.instance = undefined;
    this.chart.dispose();
  }
}
