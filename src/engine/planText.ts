import { mb } from './budget';
import { formatMs } from './deadline';
import type { Plan, PlanStep } from './types';

/**
 * The plan in words, shared by `gpumod plan`, `gpumod switch` and the Switch Mode preview, so the CLI
 * and the extension always describe a switch the same way.
 */

const VERB: Record<PlanStep['action'], string> = { keep: 'keep', sleep: 'sleep', stop: 'stop', wake: 'wake', start: 'start', load: 'load' };

export function stepLabel(s: PlanStep): string {
  if (s.action === 'sleep') return `sleep ${s.depth ?? ''}`.trim();
  if (s.action === 'keep') return s.fromState === 'sleeping' ? `asleep ${s.fromSleep ?? ''}`.trim() : s.fromState === 'running' ? 'keep' : `keep ${s.fromState}`;
  return VERB[s.action];
}

/** Counts for a one-line summary: "3 wake, 1 sleep, 1 cold start". */
export function planSummary(plan: Plan): string {
  if (plan.noop) return 'nothing to do';
  const count = (a: PlanStep['action']): number => plan.steps.filter((s) => s.action === a).length;
  const parts: string[] = [];
  const wakes = count('wake') + count('load');
  if (wakes) parts.push(`${wakes} wake`);
  if (count('sleep')) parts.push(`${count('sleep')} sleep`);
  if (count('start')) parts.push(`${count('start')} cold start${count('start') > 1 ? 's' : ''}`);
  if (count('stop')) parts.push(`${count('stop')} stop`);
  return parts.join(', ') || 'nothing to do';
}

export function budgetLines(plan: Plan): string[] {
  const lines = plan.budgets.map((b) => {
    const total = b.totalMb === undefined ? 'unknown total' : `${mb(b.totalMb)}`;
    return `GPU ${b.gpu}: ${mb(b.beforeMb)} → ${mb(b.afterMb)} of ${total} (margin ${mb(b.marginMb)}${b.foreignMb ? `, other processes ${mb(b.foreignMb)}` : ''})${sourceText(b)}`;
  });
  if (plan.ramAfterMb > 0) lines.push(`host RAM held by sleepers: ${mb(plan.ramAfterMb)}${plan.ramBudgetMb ? ` of ${mb(plan.ramBudgetMb)}` : ''}`);
  return lines;
}

/**
 * Which figures the VRAM after rests on: " (measured)", " (declared)", or the minority named
 * (" (measured; vllm-tts declared)").
 */
export function sourceText(b: Plan['budgets'][number]): string {
  const { measured, declared, unknown } = b.sources;
  const parts: string[] = [];
  if (measured.length > 0 && declared.length === 0) parts.push('measured');
  else if (declared.length > 0 && measured.length === 0) parts.push('declared');
  else if (measured.length > 0) parts.push(measured.length >= declared.length ? `measured; ${declared.join(', ')} declared` : `declared; ${measured.join(', ')} measured`);
  if (unknown.length > 0) parts.push(`${unknown.join(', ')} of unknown size`);
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

/** The whole preview as lines of text (no colour): header, a row per service, budgets, notes. */
export function describePlan(plan: Plan): string[] {
  const lines = [`${plan.from ?? '(no mode)'} → ${plan.to}: ${planSummary(plan)}, estimate ${formatMs(plan.estimateMs)}`];
  const width = Math.max(8, ...plan.steps.map((s) => s.service.length));
  for (const s of plan.steps) {
    const est = s.action === 'keep' ? '' : `~${formatMs(s.estimateMs)}`;
    lines.push(`  ${stepLabel(s).padEnd(13)} ${s.service.padEnd(width)} ${est.padEnd(9)} ${s.reason}`);
  }
  lines.push(...budgetLines(plan));
  for (const n of plan.notes) lines.push(`note: ${n}`);
  if (plan.refused) lines.push(`refused: ${plan.refused.reason}`);
  return lines;
}
