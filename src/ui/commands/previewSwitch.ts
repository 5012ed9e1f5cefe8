import * as vscode from 'vscode';
import type { Controller } from '../controller';
import { PreviewPanel } from '../panels/previewPanel';

/** `gpumod: Preview Switch`: the full preview of a switch to a mode (asked for when not given), nothing switched. */
export async function previewSwitch(controller: Controller, modeArg?: unknown): Promise<void> {
  const config = controller.config;
  if (!config) throw new Error('no valid gpumod configuration is loaded');
  let mode = typeof modeArg === 'string' ? modeArg : undefined;
  if (!mode) {
    const items = [...config.modes.values()].map((m) => ({ label: m.name, description: m.services.join(', ') || 'no services', detail: m.description }));
    mode = (await vscode.window.showQuickPick(items, { title: 'gpumod: Preview Switch', placeHolder: 'Preview the switch to which mode?' }))?.label;
  }
  if (!mode) return;
  if (!config.modes.has(mode)) throw new Error(`unknown mode "${mode}" (modes: ${[...config.modes.keys()].join(', ')})`);
  const target = mode;
  const previews = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `gpumod: planning ${target}` }, () => controller.previews());
  const p = previews.get(target);
  if (!p) throw new Error(`no plan for ${target}`);
  PreviewPanel.show(config, target, p);
}
