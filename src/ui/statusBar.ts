import * as vscode from 'vscode';
import type { Controller } from './controller';
import { statusBarModel, type UiState } from './viewModel';

/** The "gpumod" status bar item: a projection of the controller's state (see statusBarModel). */
export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscription: vscode.Disposable;
  private shown = false;

  /** `onPaint` hears each state the item has just been given to show (the startup clock's marks). */
  constructor(
    private readonly controller: Controller,
    private readonly onPaint: (state: UiState) => void = () => undefined,
  ) {
    const right = vscode.workspace.getConfiguration('gpumod').get<string>('statusBar.alignment') === 'right';
    this.item = vscode.window.createStatusBarItem('gpumod.status', right ? vscode.StatusBarAlignment.Right : vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'gpumod';
    this.subscription = controller.onDidChange(() => this.render());
    this.render();
    this.item.show();
    this.shown = true;
    this.onPaint(controller.state);
  }

  private render(): void {
    const state = this.controller.state;
    const m = statusBarModel(state, Date.now());
    this.item.text = m.text;
    const tip = new vscode.MarkdownString(m.tooltip, true);
    tip.isTrusted = false;
    this.item.tooltip = tip;
    this.item.command = m.command;
    this.item.backgroundColor = m.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.accessibilityInformation = { label: `gpumod: ${m.text.replace(/\$\([^)]*\)\s*/g, '')}` };
    if (this.shown) this.onPaint(state);
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
