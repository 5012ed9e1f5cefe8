import * as vscode from 'vscode';
import type { ConfigSource } from './configSource';

/** The "GPU" view's services tree. Until a config exists it is empty, which shows the welcome view. */
export class ServicesView implements vscode.TreeDataProvider<string>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly source: ConfigSource) {
    this.disposables = [
      this.emitter,
      vscode.window.registerTreeDataProvider('gpumod.services', this),
      source.onDidChange((s) => {
        void vscode.commands.executeCommand('setContext', 'gpumod.configState', s.kind);
        this.emitter.fire();
      }),
    ];
  }

  getTreeItem(name: string): vscode.TreeItem {
    const svc = this.source.config?.services.get(name);
    const item = new vscode.TreeItem(name, vscode.TreeItemCollapsibleState.None);
    item.description = svc ? `${svc.driver} · :${svc.port}` : undefined;
    item.contextValue = 'service';
    return item;
  }

  getChildren(element?: string): string[] {
    if (element) return [];
    return [...(this.source.config?.services.keys() ?? [])];
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
