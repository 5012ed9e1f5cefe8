import * as vscode from 'vscode';
import { runCommand } from './commandRunner';
import { openConfiguration } from './commands/openConfiguration';
import type { ConfigSource } from './configSource';

export interface CommandDeps {
  log: vscode.LogOutputChannel;
  config: ConfigSource;
}

/** The registration table: every command contributed in package.json, and nothing else. */
export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const table: Record<string, (...args: unknown[]) => Promise<unknown>> = {
    'gpumod.openConfiguration': () => openConfiguration(deps.config, deps.log),
    'gpumod.showLog': async () => deps.log.show(),
  };
  return Object.entries(table).map(([id, body]) => vscode.commands.registerCommand(id, runCommand(id, deps.log, body)));
}
