import * as vscode from 'vscode';
import type { Controller } from './controller';
import { AutoSwitchGate, autoSwitchDecision, namedWorkspaceMode, type AutoSwitchSetting } from './autoSwitchDecision';
import { runSwitchWithProgress } from './switchProgress';

/**
 * The mode a workspace names, from workspace or folder settings only: a user-level value would make
 * every window switch. A workspace can name a mode and nothing else (the config is machine-scoped).
 */
export function workspaceMode(): string | undefined {
  const folders = vscode.workspace.workspaceFolders ?? [undefined];
  return namedWorkspaceMode(folders.map((folder) => vscode.workspace.getConfiguration('gpumod', folder?.uri).inspect<string>('workspaceMode')));
}

/** Switches to the workspace's mode when a trusted workspace that names one opens (or becomes trusted). */
export class AutoSwitch implements vscode.Disposable {
  private readonly gate = new AutoSwitchGate();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly controller: Controller,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.run()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('gpumod.workspaceMode')) void this.run();
      }),
      controller.onDidChange((s) => {
        // After the first observation: the current mode must be known to skip a needless switch.
        if (s.configState === 'ok' && s.observation) void this.run();
      }),
    );
  }

  async run(): Promise<void> {
    const config = this.controller.config;
    if (!config || !this.controller.state.observation) return;
    const wanted = workspaceMode();
    const turn = this.gate.turn(vscode.workspace.isTrusted, wanted !== undefined);
    if (turn === 'await-trust') this.log.info('auto-switch: workspace not trusted; a gpumod.workspaceMode it sets applies once you trust it');
    if (turn !== 'decide') return;
    const setting = vscode.workspace.getConfiguration('gpumod').get<AutoSwitchSetting>('autoSwitch') ?? 'ask';
    const d = autoSwitchDecision(vscode.workspace.isTrusted, setting, wanted, [...config.modes.keys()], this.controller.state.mode);
    if (d.kind === 'none') return;
    if (d.kind === 'unknown-mode') {
      void vscode.window.showWarningMessage(`gpumod: this workspace asks for mode "${d.mode}", which your gpumod.yaml does not define.`);
      return;
    }
    if (d.kind === 'ask') {
      const choice = await vscode.window.showInformationMessage(`gpumod: this workspace works in mode "${d.mode}". Switch now?`, 'Switch', 'Not Now');
      if (choice !== 'Switch') return;
    }
    this.log.info(`auto-switch: workspace names mode ${d.mode}`);
    await runSwitchWithProgress(this.controller, d.mode, this.log);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
