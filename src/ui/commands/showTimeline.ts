import * as vscode from 'vscode';
import { formatMs } from '../../engine/deadline';
import type { SwitchRecord } from '../../engine/types';
import type { Controller } from '../controller';

const BAR_WIDTH = 40;

/** The last switch as a markdown table with a bar per step, so the critical path is visible. */
export function timelineMarkdown(r: SwitchRecord): string {
  const total = Math.max(1, r.totalMs);
  const lines = [
    `# gpumod switch ${r.from ?? '(no mode)'} → ${r.to ?? '(no mode)'}`,
    '',
    `${new Date(r.startedAt).toLocaleString()} · ${r.ok ? 'ok' : r.cancelled ? 'cancelled' : 'failed'} in ${formatMs(r.totalMs)}${r.estimateMs ? ` (estimate ${formatMs(r.estimateMs)})` : ''}${r.rolledBack ? ' · rolled back' : ''}`,
    ...(r.error ? ['', `**Error:** ${r.error}`] : []),
    '',
    '| step | service | start | took | result | |',
    '|---|---|--:|--:|---|---|',
  ];
  for (const e of r.steps) {
    const from = Math.round((e.startMs / total) * BAR_WIDTH);
    const len = Math.max(1, Math.round((e.ms / total) * BAR_WIDTH));
    const bar = `\`${' '.repeat(Math.min(from, BAR_WIDTH))}${'█'.repeat(Math.min(len, BAR_WIDTH - Math.min(from, BAR_WIDTH - 1)))}\``;
    lines.push(`| ${e.action}${e.depth ? ` ${e.depth}` : ''} | ${e.service} | ${formatMs(e.startMs)} | ${formatMs(e.ms)} | ${e.result}${e.error ? `: ${e.error.replace(/\|/g, '\\|')}` : ''} | ${bar} |`);
  }
  return lines.join('\n') + '\n';
}

export async function showTimeline(controller: Controller): Promise<void> {
  const record = await controller.lastRecord();
  if (!record) {
    void vscode.window.showInformationMessage('gpumod: no switch recorded yet.');
    return;
  }
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: timelineMarkdown(record) });
  await vscode.window.showTextDocument(doc, { preview: true });
}
