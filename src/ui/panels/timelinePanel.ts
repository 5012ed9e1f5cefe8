import * as vscode from 'vscode';
import { historyMarkup, recordId } from '../../charts/historyList';
import { timelineChart } from '../../charts/timelineChart';
import type { SwitchRecord } from '../../engine/types';
import { errorMessage } from '../../errors';
import type { Controller } from '../controller';
import { ChartPanel } from './chartPanel';

/** How many past switches the list offers. */
const LIST_LIMIT = 50;

export function timelineContent(records: readonly SwitchRecord[], shown: SwitchRecord): string {
  return `<div class="layout"><main>${timelineChart(shown)}</main>${historyMarkup(records, recordId(shown))}</div>`;
}

/**
 * "gpumod: Show Last Switch Timeline": one panel with the chart of a switch and the list of past
 * ones beside it. Opened on the last switch it follows the next ones; opened on a chosen one it stays.
 */
export class TimelinePanel implements vscode.Disposable {
  private static instance: TimelinePanel | undefined;
  private readonly chart: ChartPanel;
  private records: SwitchRecord[] = [];
  private shown: string | undefined;
  private follow = true;
  private lastSeen: number | undefined;
  private readonly sub: vscode.Disposable;

  private constructor(
    private readonly controller: Controller,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.chart = new ChartPanel('gpumod.timeline', 'gpumod: Switch Timeline', (id) => void this.open(id, false), () => this.dispose());
    this.lastSeen = controller.state.lastSwitch?.at;
    this.sub = controller.onDidChange((s) => {
      if (!this.follow || s.lastSwitch?.at === this.lastSeen) return;
      this.lastSeen = s.lastSwitch?.at;
      void this.open(undefined, true);
    });
  }

  /** Opens the panel on the switch `id` (a record's start), or on the last switch. False when nothing is recorded. */
  static async show(controller: Controller, log: vscode.LogOutputChannel, id?: string): Promise<boolean> {
    const p = TimelinePanel.instance ?? new TimelinePanel(controller, log);
    TimelinePanel.instance = p;
    const ok = await p.open(id, false);
    if (!ok && p.shown === undefined) p.chart.panel.dispose();
    else p.chart.reveal();
    return ok;
  }

  private async open(id: string | undefined, quiet: boolean): Promise<boolean> {
    try {
      this.records = await this.controller.history(LIST_LIMIT);
    } catch (e) {
      this.log.warn(`reading the switch history failed: ${errorMessage(e)}`);
    }
    const shown = id !== undefined ? this.records.find((r) => recordId(r) === id) : [...this.records].reverse().find((r) => r.kind === 'switch');
    if (!shown) {
      if (!quiet) void vscode.window.showInformationMessage(id !== undefined ? 'gpumod: that switch is no longer in the history.' : 'gpumod: no switch recorded yet.');
      return false;
    }
    this.follow = id === undefined;
    this.shown = recordId(shown);
    this.chart.panel.title = shown.kind === 'service' ? `gpumod: ${shown.service ?? 'action'}` : `gpumod: ${shown.from ?? '(no mode)'} → ${shown.to ?? '(no mode)'}`;
    this.chart.render(timelineContent(this.records, shown));
    return true;
  }

  dispose(): void {
    if (TimelinePanel.instance === this) TimelinePanel.instance = undefined;
    this.sub.dispose();
    this.chart.dispose();
  }
}
