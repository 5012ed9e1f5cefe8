// First import: its first statement starts the clock of loading this bundle (see costMeter.ts).
import { bundleEvaluated, CostMeter, startupText } from './ui/costMeter';
import * as vscode from 'vscode';
import { createApi, type GpumodApi } from './ui/api';
import { AutoSwitch } from './ui/autoSwitch';
import { registerCommands } from './ui/commandTable';
import { disposeJournals } from './ui/commands/serviceCommands';
import { ConfigSource } from './ui/configSource';
import { Controller } from './ui/controller';
import { registerLmTools, type AskedConfirmation } from './ui/lmTools';
import { registerMcpServer } from './ui/mcpServer';
import { ServicesView } from './ui/servicesView';
import { StatusBar } from './ui/statusBar';
import type { UiState } from './ui/viewModel';

/** Composition root: builds the parts and wires them; no I/O happens before the first paint. */
export function activate(context: vscode.ExtensionContext): GpumodApi {
  const costs = new CostMeter();
  const log = vscode.window.createOutputChannel('gpumod', { log: true });
  const config = new ConfigSource(log);
  const controller = new Controller(config, log);
  const view = new ServicesView(controller, context.globalState);
  let asked: AskedConfirmation | undefined;
  const onPaint = (s: UiState): void => {
    if (costs.paint(s)) log.debug(startupText(costs.startup()));
  };
  context.subscriptions.push(
    log,
    config,
    controller,
    view,
    new StatusBar(controller, onPaint),
    costs.count(controller.onDidChange),
    new AutoSwitch(controller, log),
    ...registerCommands({ log, config, controller, view }),
    ...registerLmTools(controller, log, (c) => (asked = c)),
    ...registerMcpServer(() => controller.configPath, log),
    { dispose: disposeJournals },
  );
  // The config is read, and the machine observed, after activation returns: activation stays light.
  setTimeout(() => void config.reload(), 0);
  const api = createApi(controller, view, () => costs.report(controller.observeCpuMicros / 1000), () => asked);
  log.debug(startupText(costs.activated()));
  return api;
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

bundleEvaluated();
