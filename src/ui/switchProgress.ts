import { setMaxListeners } from 'node:events';
import * as vscode from 'vscode';
import { formatMs } from '../engine/deadline';
import type { StepEvent } from '../engine/steps';
import { stepMessage } from '../engine/stepText';
import type { SwitchResult } from '../engine/switcher';
import { errorMessage, isGpumodError } from '../errors';
import type { Controller } from './controller';

/** "rag in 1.4 s (3 woken, 2 asleep)". */
export function resultSummary(r: SwitchResult): string {
  const woken = r.timeline.filter((e) => (e.action === 'wake' || e.action === 'load') && e.result === 'ok').length;
  const started = r.timeline.filter((e) => e.action === 'start' && e.result === 'ok').length;
  const asleep = [...r.observation.services.values()].filter((o) => o.state === 'sleeping').length;
  const parts = [`${woken} woken`, ...(started ? [`${started} started`] : []), `${asleep} asleep`];
  return `${r.to} in ${formatMs(r.totalMs)} (${parts.join(', ')})`;
}

/**
 * Runs an engine operation in a cancellable progress notification: cancel aborts it (the engine
 * rolls back), each step that begins becomes the notification's message.
 */
export function withStepProgress<T>(
  title: string,
  run: (signal: AbortSignal, onStep: (e: StepEvent) => void) => Promise<T>,
  /** Another way to cancel (a language-model tool call's). */
  also?: vscode.CancellationToken,
): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    const ctl = new AbortController();
    setMaxListeners(256, ctl.signal); // one listener per step in flight
    const sub = vscode.Disposable.from(token.onCancellationRequested(() => ctl.abort()), ...(also ? [also.onCancellationRequested(() => ctl.abort())] : []));
    if (also?.isCancellationRequested) ctl.abort();
    try {
      return await run(ctl.signal, (e) => {
        const message = stepMessage(e);
        if (message) progress.report({ message });
      });
    } finally {
      sub.dispose();
    }
  });
}

/** Runs a switch in a cancellable progress notification, one message per step, and reports the result. */
export async function runSwitchWithProgress(controller: Controller, mode: string, log: vscode.LogOutputChannel): Promise<SwitchResult | undefined> {
  const from = controller.state.mode;
  let result: SwitchResult | undefined;
  try {
    result = await withStepProgress(`gpumod: ${from ?? '…'} → ${mode}`, (signal, onStep) => controller.switchTo(mode, signal, onStep));
  } catch (e) {
    if (isGpumodError(e, 'LOCKED')) {
      void vscode.window.showWarningMessage(`gpumod: ${errorMessage(e)}. Wait for it to finish.`);
      return undefined;
    }
    throw e;
  }
  // The outcome is reported without waiting for the user to dismiss it: the command is done.
  if (result.ok) {
    void vscode.window
      .showInformationMessage(result.noop ? `gpumod: already in ${mode}.` : `gpumod: ${resultSummary(result)}`, ...(result.noop ? [] : ['Show Timeline']))
      .then((choice) => choice === 'Show Timeline' && vscode.commands.executeCommand('gpumod.showTimeline'));
  } else {
    log.warn(result.message);
    void (result.cancelled ? vscode.window.showWarningMessage : vscode.window.showErrorMessage)(`gpumod: ${result.message}`, 'Show Timeline', 'Show Log').then((choice) => {
      if (choice === 'Show Timeline') void vscode.commands.executeCommand('gpumod.showTimeline');
      if (choice === 'Show Log') log.show(true);
    });
  }
  return result;
}
