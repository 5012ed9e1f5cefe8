import type * as vscode from 'vscode';
import type { Controller } from '../controller';
import { TimelinePanel } from '../panels/timelinePanel';

/** `gpumod: Show Last Switch Timeline` (with a record's start as argument: that switch). */
export async function showTimeline(controller: Controller, log: vscode.LogOutputChannel, arg?: unknown): Promise<void> {
  const id = typeof arg === 'string' || typeof arg === 'number' ? String(arg) : undefined;
  await TimelinePanel.show(controller, log, id);
}
