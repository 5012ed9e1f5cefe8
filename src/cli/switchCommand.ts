import { describePlan } from '../engine/planText';
import { switchMode } from '../engine/switcher';
import { switchJson } from '../agent/reports';
import { allowFlags, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { modeArg } from './planCommand';
import { interruptSignal, withSession } from './session';
import { printProgress } from './timeline';

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
