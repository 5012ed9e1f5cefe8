import * as vscode from 'vscode';
import { registerCommands } from './ui/commandTable';
import { ConfigSource } from './ui/configSource';
import { ServicesView } from './ui/servicesView';

/** Composition root: builds the parts and wires them; no I/O happens before the first paint. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('gpumod', { log: true });
  const config = new ConfigSource(log);
  const view = new ServicesView(config);
  context.subscriptions.push(
    log,
    config,
    view,
    ...registerCommands({ log, config }),
  );
  // Loaded after activation returns, so activation stays light.
  setTimeout(() => void config.reload(), 0);
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
