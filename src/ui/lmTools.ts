// The agent tools (src/agent/tools.ts) as VS Code language-model tools: an agent in the editor sees
// and switches the GPU through this window, so the status bar, the lock, progress and cancel are the
// commands' own. The schemas in package.json are static; names are checked against the loaded config.
import * as vscode from 'vscode';
import { TOOLS, type ToolBackend, type ToolInput, type ToolSpec } from '../agent/tools';
import type { Config } from '../config/types';
import type { Controller } from './controller';
import { withStepProgress } from './switchProgress';
import { core } from './useCore';
import { stateText } from './viewModel';

/** The config a tool call runs with: waits for the first load; none at all is an error the model can relay. */
async function configFor(controller: Controller): Promise<Config> {
  await controller.configLoaded();
  const config = controller.config;
  if (!config) throw new Error(`gpumod has no valid configuration: ${controller.configPath} is missing or has problems (the user can open it with the command "gpumod: Open Configuration")`);
  return config;
}

function signalOf(token: vscode.CancellationToken): AbortSignal {
  const ctl = new AbortController();
  if (token.isCancellationRequested) ctl.abort();
  token.onCancellationRequested(() => ctl.abort());
  return ctl.signal;
}

/** A switch or action an agent ran failed: the user hears of it as from a command, not only the agent. */
function reportFailure(message: string, log: vscode.LogOutputChannel): void {
  log.warn(message);
  void vscode.window.showErrorMessage(`gpumod: ${message}`, 'Show Log').then((choice) => choice === 'Show Log' && log.show(true));
}

function invocationMessage(input: ToolInput): string {
  switch (input.tool) {
    case 'gpumod_status':
      return 'Reading the GPU services';
    case 'gpumod_plan':
      return `Planning a switch to ${input.mode}`;
    case 'gpumod_switch_mode':
      return `Switching the GPU to ${input.mode}`;
    case 'gpumod_service_action':
      return `${input.action} ${input.service}`;
  }
}

/** The window's controller as the tools' backend: switches and actions show their progress and can be cancelled there too. */
function backend(controller: Controller, log: vscode.LogOutputChannel, token: vscode.CancellationToken): ToolBackend {
  return {
    status: (signal) => controller.statusJson(signal),
    plan: (mode, signal) => controller.plan(mode, signal),
    switchMode: async (mode, _signal, progress) => {
      const r = await withStepProgress(`gpumod (agent): ${controller.state.mode ?? '…'} → ${mode}`, (signal, onStep) => controller.switchTo(mode, signal, (e) => (onStep(e), progress.step?.(e))), token);
      if (!r.ok) reportFailure(r.message, log);
      return r;
    },
    serviceAction: async (service, action, _signal, progress) => {
      const r = await withStepProgress(`gpumod (agent): ${action} ${service}`, (signal, onStep) => controller.serviceAction(service, action, signal, (e) => (onStep(e), progress.step?.(e))), token);
      if (!r.ok) reportFailure(r.message, log);
      return r;
    },
  };
}

/** The confirmation a user reads before a switch or service action: the real plan, or the service as observed. */
async function confirmation(controller: Controller, input: ToolInput, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolConfirmationMessages | undefined> {
  if (input.tool === 'gpumod_switch_mode') {
    const plan = await controller.plan(input.mode, signalOf(token));
    // Nothing to approve: a switch that cannot run fails now, with the reason; one with nothing to do runs.
    if (plan.refused) throw new Error(`gpumod cannot switch to ${input.mode}: ${plan.refused.reason}`);
    if (plan.noop) return undefined;
    return { title: `Switch the GPU to mode "${input.mode}"?`, message: new vscode.MarkdownString(['```text', core().switchConfirmation(plan), '```'].join('\n')) };
  }
  if (input.tool === 'gpumod_service_action') {
    await controller.refresh();
    const o = controller.state.observation?.services.get(input.service);
    const loses = input.action === 'stop' || input.action === 'restart' ? ' Requests it is serving are lost.' : '';
    return { title: `${core().actionTitle(input.action, input.service)}?`, message: `${input.service} is ${stateText(o)} now.${loses}` };
  }
  return undefined;
}

/** As auto-switch: an untrusted workspace (and an agent working in it) changes nothing on the machine. */
function refuseUntrusted(spec: ToolSpec): void {
  if (!spec.readOnly && !vscode.workspace.isTrusted) {
    throw new Error('gpumod does not switch modes or act on services from an untrusted workspace; the user can trust this workspace and ask again');
  }
}

/** A confirmation as the user reads it (the API exposes the last one: the host tests' dialogs answer themselves). */
export interface AskedConfirmation {
  tool: string;
  title: string;
  message: string;
}

function tool(spec: ToolSpec, controller: Controller, log: vscode.LogOutputChannel, asked: (c: AskedConfirmation) => void): vscode.LanguageModelTool<unknown> {
  return {
    async prepareInvocation(options, token) {
      const input = core().parseToolInput(spec.name, options.input, await configFor(controller));
      refuseUntrusted(spec); // before the user is asked to confirm what would be refused anyway
      const confirmationMessages = spec.readOnly ? undefined : await confirmation(controller, input, token);
      if (confirmationMessages) {
        const m = confirmationMessages.message;
        asked({ tool: spec.name, title: confirmationMessages.title, message: typeof m === 'string' ? m : m.value });
      }
      return { invocationMessage: invocationMessage(input), confirmationMessages };
    },
    async invoke(options, token) {
      const input = core().parseToolInput(spec.name, options.input, await configFor(controller));
      refuseUntrusted(spec);
      const out = await core().runTool(input, backend(controller, log, token), signalOf(token));
      return new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(out.text)]);
    },
  };
}

/** Registers the four tools where the editor has the language-model tool API (guarded: nothing breaks without it). */
export function registerLmTools(controller: Controller, log: vscode.LogOutputChannel, asked: (c: AskedConfirmation) => void = () => undefined): vscode.Disposable[] {
  const lm = (vscode as { lm?: typeof vscode.lm }).lm;
  if (typeof lm?.registerTool !== 'function') return [];
  return TOOLS.map((spec) => lm.registerTool(spec.name, tool(spec, controller, log, asked)));
}
