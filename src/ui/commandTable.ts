import * as vscode from 'vscode';
import { runCommand } from './commandRunner';
import { DetectServices, type DetectServicesArgs } from './commands/detectServicesCommand';
import { installGateway } from './commands/installGateway';
import { openConfiguration } from './commands/openConfiguration';
import { openEndpoint, serviceActionCommand, showServiceLogs } from './commands/serviceCommands';
import { switchModeCommand } from './commands/switchModeCommand';
import type { ConfigSource } from './configSource';
import type { Controller } from './controller';
import { PROPOSAL_SCHEME, ProposalDocuments } from './proposalDocuments';
import type { ServicesView } from './servicesView';
import { core } from './useCore';

/* eslint-enable @typescript-eslint/no-require-imports */

export interface CommandDeps {
  log: vscode.LogOutputChannel;
  config: ConfigSource;
  controller: Controller;
  view: ServicesView;
}

/** The registration table: every command contributed in package.json, and nothing else. */
export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const { log, controller } = deps;
  const proposals = new ProposalDocuments();
  const detect = new DetectServices(deps.config, log, proposals);
  const table: Record<string, (...args: unknown[]) => Promise<unknown>> = {
    'gpumod.switchMode': (mode) => switchModeCommand(controller, log, typeof mode === 'string' ? mode : undefined),
    'gpumod.refresh': () => controller.refresh(),
    'gpumod.openConfiguration': () => openConfiguration(deps.config, log),
    'gpumod.showLog': async () => log.show(),
    'gpumod.showTimeline': (arg) => core().timelineCommand.showTimeline(controller, log, arg),
    'gpumod.showGpuMemory': () => core().memoryCommand.showGpuMemory(controller),
    'gpumod.previewSwitch': (mode) => core().previewCommand.previewSwitch(controller, mode),
    'gpumod.toggleGrouping': async () => deps.view.toggleGrouping(),
    'gpumod.sleepService': (arg) => serviceActionCommand(controller, log, 'sleep', arg),
    'gpumod.sleepServiceDeep': (arg) => serviceActionCommand(controller, log, 'sleepDeep', arg),
    'gpumod.wakeService': (arg) => serviceActionCommand(controller, log, 'wake', arg),
    'gpumod.startService': (arg) => serviceActionCommand(controller, log, 'start', arg),
    'gpumod.stopService': (arg) => serviceActionCommand(controller, log, 'stop', arg),
    'gpumod.restartService': (arg) => serviceActionCommand(controller, log, 'restart', arg),
    'gpumod.showServiceLogs': (arg) => showServiceLogs(controller, arg),
    'gpumod.openEndpoint': (arg) => openEndpoint(controller, arg),
    'gpumod.detectServices': (arg) => detect.run(typeof arg === 'object' && arg !== null ? (arg as DetectServicesArgs) : {}),
    'gpumod.applyDetectedServices': async () => detect.decide('apply'),
    'gpumod.discardDetectedServices': async () => detect.decide('discard'),
    'gpumod.installGateway': () => installGateway(controller, log),
  };
  return [
    proposals,
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, proposals),
    detect,
    ...Object.entries(table).map(([id, body]) => vscode.commands.registerCommand(id, runCommand(id, log, body))),
  ];
}
