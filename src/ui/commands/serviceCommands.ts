import * as vscode from 'vscode';
import { validActions, type ServiceAction } from '../../engine/actions';
import { formatMs } from '../../engine/deadline';
import type { ServiceActionName } from '../../engine/switcher';
import { errorMessage, isGpumodError } from '../../errors';
import type { Controller } from '../controller';
import { withStepProgress } from '../switchProgress';
import { stateText } from '../viewModel';

const TITLES: Record<ServiceAction, string> = {
  sleep: 'Sleep',
  sleepDeep: 'Sleep (deep, L2)',
  wake: 'Wake',
  start: 'Start',
  stop: 'Stop',
  restart: 'Restart',
  logs: 'Show Logs of',
  openEndpoint: 'Open Endpoint of',
};

/** The service a command acts on: the tree item it was invoked on, a name, or a quick pick of the valid ones. */
export async function pickService(controller: Controller, action: ServiceAction, arg: unknown): Promise<string | undefined> {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && 'name' in arg && typeof (arg as { name: unknown }).name === 'string') return (arg as { name: string }).name;
  const config = controller.config;
  if (!config) return undefined;
  await controller.refresh();
  const items = [...config.services.values()]
    .map((svc) => ({ svc, o: controller.state.observation?.services.get(svc.name) }))
    .filter(({ svc, o }) => validActions(o?.state ?? 'unknown', controller.capabilities(svc), o?.sleep).includes(action))
    .map(({ svc, o }) => ({ label: svc.name, description: stateText(o), detail: `${svc.driver} · ${svc.unit} · :${svc.port}` }));
  if (items.length === 0) {
    void vscode.window.showInformationMessage(`gpumod: no service can be ${action === 'sleepDeep' ? 'put in deep sleep' : `${action}ed`} right now.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(items, { title: `gpumod: ${TITLES[action]} Service`, placeHolder: 'Services this action is valid for' });
  return picked?.label;
}

/** Sleep, Sleep (deep), Wake, Start, Stop, Restart: under the machine-wide lock, with progress. */
export async function serviceActionCommand(controller: Controller, log: vscode.LogOutputChannel, action: ServiceActionName, arg: unknown): Promise<void> {
  const name = await pickService(controller, action, arg);
  if (!name) return;
  let result;
  try {
    result = await withStepProgress(`gpumod: ${TITLES[action].toLowerCase()} ${name}`, (signal, onStep) => controller.serviceAction(name, action, signal, onStep));
  } catch (e) {
    if (isGpumodError(e, 'LOCKED')) {
      void vscode.window.showWarningMessage(`gpumod: ${errorMessage(e)}. Try again when it is done.`);
      return;
    }
    throw e;
  }
  if (result.ok) {
    vscode.window.setStatusBarMessage(`$(check) gpumod: ${name} ${stateText(result.observation)} (${formatMs(result.totalMs)})`, 5000);
  } else {
    log.warn(result.message);
    void vscode.window.showErrorMessage(`gpumod: ${result.message}`, 'Show Logs', 'Show Log').then((choice) => {
      if (choice === 'Show Logs') void vscode.commands.executeCommand('gpumod.showServiceLogs', name);
      if (choice === 'Show Log') log.show(true);
    });
  }
}

const journals = new Map<string, vscode.OutputChannel>();

/** The unit's journal in an output channel of its own ("gpumod: vllm-chat"). */
export async function showServiceLogs(controller: Controller, arg: unknown): Promise<void> {
  const name = await pickService(controller, 'logs', arg);
  const svc = name ? controller.config?.services.get(name) : undefined;
  if (!svc) return;
  let channel = journals.get(svc.name);
  if (!channel) {
    channel = vscode.window.createOutputChannel(`gpumod: ${svc.name}`, 'log');
    journals.set(svc.name, channel);
  }
  channel.clear();
  channel.append(await controller.journal(svc.unit, 300));
  channel.show(true);
}

export function disposeJournals(): void {
  for (const c of journals.values()) c.dispose();
  journals.clear();
}

/** Opens the server's own page: vLLM's and FastAPI's /docs, llama.cpp's web UI. */
export async function openEndpoint(controller: Controller, arg: unknown): Promise<void> {
  const name = await pickService(controller, 'openEndpoint', arg);
  const svc = name ? controller.config?.services.get(name) : undefined;
  if (!svc) return;
  const path = svc.driver === 'vllm' || svc.driver === 'http' ? '/docs' : '/';
  const host = svc.host.includes(':') && !svc.host.startsWith('[') ? `[${svc.host}]` : svc.host;
  const uri = await vscode.env.asExternalUri(vscode.Uri.parse(`http://${host}:${svc.port}${path}`));
  await vscode.env.openExternal(uri);
}
