import { describePlan } from '../engine/planText';
import { previewPlan } from '../engine/switcher';
import { planJson } from '../agent/reports';
import { allowFlags, UsageError, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { withSession } from './session';

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
