import { describePlan } from '../engine/planText';
import { previewPlan } from '../engine/switcher';
import type { Plan } from '../engine/types';
import { allowFlags, UsageError, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { withSession } from './session';

export function planJson(plan: Plan): unknown {
  return {
    from: plan.from ?? null,
    to: plan.to,
    noop: plan.noop,
    estimate_ms: plan.estimateMs,
    phases: plan.phases,
    steps: plan.steps.map((s) => ({ service: s.service, action: s.action, depth: s.depth, reason: s.reason, estimate_ms: s.estimateMs, vram_after_mb: s.vramAfterMb, vram_source: s.vramSource })),
    budgets: plan.budgets.map((b) => ({ gpu: b.gpu, total_mb: b.totalMb ?? null, before_mb: b.beforeMb, after_mb: b.afterMb, margin_mb: b.marginMb, foreign_mb: b.foreignMb, sources: b.sources })),
    ram_after_mb: plan.ramAfterMb,
    notes: plan.notes,
    refused: plan.refused ?? null,
  };
}

export function modeArg(args: ParsedArgs, command: string): string {
  const mode = args.positional[0];
  if (!mode || args.positional.length > 1) throw new UsageError(`usage: gpumod ${command} MODE`);
  return mode;
}

/** `gpumod plan MODE`: the preview of a switch (steps, VRAM/RAM before → after, estimate); touches nothing. */
export async function planCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'json', 'verbose']);
  const mode = modeArg(args, 'plan');
  return withSession(args, io, async ({ config, machine }) => {
    const { plan } = await previewPlan(config, mode, machine.ports);
    if (args.flags.has('json')) io.out(JSON.stringify(planJson(plan)) + '\n');
    else io.out(describePlan(plan).join('\n') + '\n');
    return plan.refused ? EXIT.failed : EXIT.ok;
  });
}
