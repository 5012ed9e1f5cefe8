import { describePlan } from '../engine/planText';
import { switchMode, type SwitchResult } from '../engine/switcher';
import { allowFlags, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { planJson, modeArg } from './planCommand';
import { interruptSignal, withSession } from './session';
import { printProgress, stepJson } from './timeline';

export function switchJson(r: SwitchResult): unknown {
  return {
    ok: r.ok,
    from: r.from ?? null,
    to: r.to,
    mode: r.mode ?? null,
    total_ms: r.totalMs,
    first_answer_ms: r.firstAnswerMs ?? null,
    noop: r.noop,
    cancelled: r.cancelled,
    rolled_back: r.rolledBack,
    failure: r.failure ?? null,
    steps: r.timeline.map(stepJson),
    plan: planJson(r.plan),
    message: r.message,
  };
}

/** `gpumod switch MODE`: exit 0 ok, 1 failed (rolled back or not), 2 usage/config, 3 locked. */
export async function switchCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'json', 'verbose', 'force']);
  const mode = modeArg(args, 'switch');
  const json = args.flags.has('json');
  const interrupt = interruptSignal(io);
  try {
    return await withSession(args, io, async ({ config, machine }) => {
      const result = await switchMode(config, mode, machine.ports, {
        signal: interrupt.signal,
        force: args.flags.has('force'),
        owner: `gpumod switch ${mode}`,
        onPlan: json ? undefined : (plan) => io.out(describePlan(plan).join('\n') + '\n'),
        onStep: json ? undefined : printProgress(io),
      });
      if (json) io.out(JSON.stringify(switchJson(result)) + '\n');
      else io.out(result.message + '\n');
      return result.ok ? EXIT.ok : EXIT.failed;
    });
  } finally {
    interrupt.dispose();
  }
}
