import * as vscode from 'vscode';
import { mb } from '../../engine/budget';
import { formatMs } from '../../engine/deadline';
import { planSummary } from '../../engine/planText';
import type { Preview } from '../../engine/switcher';
import type { Config } from '../../config/types';
import { errorMessage } from '../../errors';
import type { Controller } from '../controller';
import { runSwitchWithProgress } from '../switchProgress';
import { core } from '../useCore';

/** On each mode with a plan: opens the full preview (both bars, the steps) beside the pick. */
const PREVIEW_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('graph'), tooltip: 'Full preview: GPU memory before and after, and the steps' };

interface ModeItem extends vscode.QuickPickItem {
  /** Undefined on the item that opens a configuration file with problems. */
  mode?: string;
}

/**
 * The config to switch with. A click in the first moments of a window waits for the first load
 * (the status bar spins meanwhile) instead of acting on nothing; without a config the user is sent
 * to the file: created when missing, its problems listed when broken.
 */
async function configToSwitchWith(controller: Controller): Promise<Config | undefined> {
  if (!controller.config && controller.state.configState === 'loading') {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'gpumod: reading the configuration' }, () => controller.configLoaded());
  }
  if (controller.config) return controller.config;
  if (controller.state.configState === 'invalid') {
    const open = 'Open gpumod.yaml';
    const n = controller.state.configProblems ?? 0;
    const choice = await vscode.window.showErrorMessage(`gpumod: ${controller.configPath} has ${n} problem${n === 1 ? '' : 's'} and no valid configuration has been loaded yet, so there is no mode to switch to.`, open);
    if (choice === open) await vscode.commands.executeCommand('gpumod.openConfiguration');
    return undefined;
  }
  await vscode.commands.executeCommand('gpumod.openConfiguration');
  return undefined;
}

/** First in the pick while the file on disk does not load: the modes shown are the last valid ones. */
function problemsItem(controller: Controller): ModeItem[] {
  if (controller.state.configState !== 'invalid') return [];
  const n = controller.state.configProblems ?? 0;
  return [
    {
      label: `$(warning) gpumod.yaml has ${n} problem${n === 1 ? '' : 's'}`,
      description: 'open it',
      detail: 'The modes below are from the last valid configuration, which stays in force until the file is fixed.',
      alwaysShow: true,
    },
  ];
}

/** What a switch to this mode would do, in one line: the preview under each mode. */
export function previewDetail(p: Preview): string {
  const plan = p.plan;
  if (plan.refused) return `$(error) ${plan.refused.reason}`;
  if (plan.noop) return 'current mode: nothing to do';
  const names = (a: string[]): string[] => plan.steps.filter((s) => a.includes(s.action)).map((s) => s.service);
  const parts: string[] = [];
  const sleeps = names(['sleep']);
  const stops = names(['stop']);
  const wakes = names(['wake', 'load']);
  const starts = names(['start']);
  if (sleeps.length) parts.push(`sleeps ${sleeps.join(', ')}`);
  if (stops.length) parts.push(`stops ${stops.join(', ')}`);
  if (wakes.length) parts.push(`wakes ${wakes.join(', ')}`);
  if (starts.length) parts.push(`cold-starts ${starts.join(', ')}`);
  const vram = plan.budgets.map((b) => `${mb(b.afterMb)}${b.totalMb ? `/${mb(b.totalMb)}` : ''}`).join(', ');
  // The estimate first: the line is cut at the quick pick's width, and time is what people choose by.
  return `~${formatMs(plan.estimateMs)} · ${parts.join(' · ') || planSummary(plan)} · VRAM after ${vram}`;
}

/** `gpumod: Switch Mode`: a quick pick of the modes with a plan preview each, then the switch. */
export async function switchModeCommand(controller: Controller, log: vscode.LogOutputChannel, modeArg?: string): Promise<void> {
  const config = await configToSwitchWith(controller);
  if (!config) return;
  if (controller.state.switching) {
    void vscode.window.showInformationMessage(`gpumod: a switch to ${controller.state.switching.to} is already under way.`);
    return;
  }
  let mode = typeof modeArg === 'string' ? modeArg : undefined;
  if (!mode) {
    const pick = vscode.window.createQuickPick<ModeItem>();
    pick.title = 'gpumod: Switch Mode';
    pick.placeholder = `Current mode: ${controller.state.mode ?? 'none'} — computing the plans…`;
    pick.matchOnDescription = true;
    const current = controller.state.mode;
    const base = (): ModeItem[] => [
      ...problemsItem(controller),
      ...[...config.modes.values()].map((m) => ({
        mode: m.name,
        label: `${m.name === current ? '$(check)' : '$(layers)'} ${m.name}`,
        description: m.services.length ? m.services.join(', ') : 'no services',
        detail: m.description,
      })),
    ];
    pick.items = base();
    pick.busy = true;
    let previews = new Map<string, Preview>();
    pick.onDidTriggerItemButton((e) => {
      const mode = e.item.mode;
      const p = mode && previews.get(mode);
      if (mode && p) core().PreviewPanel.show(config, mode, p, { preserveFocus: true });
    });
    pick.show();
    controller
      .previews()
      .then((computed) => {
        previews = computed;
        pick.items = base().map((i) => {
          const p = i.mode && computed.get(i.mode);
          return p ? { ...i, detail: previewDetail(p), buttons: [PREVIEW_BUTTON] } : i;
        });
        pick.placeholder = `Current mode: ${current ?? 'none'}. Pick a mode to switch to.`;
      })
      .catch((e) => {
        log.warn(`plan preview failed: ${errorMessage(e)}`);
        pick.placeholder = 'Pick a mode (the preview is unavailable: see the log)';
      })
      .finally(() => (pick.busy = false));
    const picked = await new Promise<ModeItem | undefined>((resolve) => {
      pick.onDidAccept(() => {
        resolve(pick.selectedItems[0]);
        pick.hide();
      });
      pick.onDidHide(() => resolve(undefined));
    });
    pick.dispose();
    if (picked && !picked.mode) {
      await vscode.commands.executeCommand('gpumod.openConfiguration');
      return;
    }
    mode = picked?.mode;
  }
  if (!mode) return;
  if (!config.modes.has(mode)) throw new Error(`unknown mode "${mode}" (modes: ${[...config.modes.keys()].join(', ')})`);
  await runSwitchWithProgress(controller, mode, log);
}
