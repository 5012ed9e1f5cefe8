import { formatMs } from '../engine/deadline';
import { describePlan } from '../engine/planText';
import type { StepEvent } from '../engine/steps';
import { switchMode, type SwitchResult } from '../engine/switcher';
import { allowFlags, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { planJson, modeArg } from './planCommand';
import { interruptSignal, withSession } from './session';

export function switchJson(r: SwitchResult): unknown {
  return {
    ok: r.ok,
    from: r.from ?? null,
    to: r.to,
    mode: r.mode ?? null,
    total_ms: r.totalMs,
    noop: r.noop,
    cancelled: r.cancelled,
    rolled_back: r.rolledBack,
    failure: r.failure ?? null,
    steps: r.timeline.map((e) => ({ service: e.service, action: e.action, phase: e.phase, depth: e.depth, start_ms: e.startMs, ms: e.ms, result: e.result, error: e.error })),
    plan: planJson(r.plan),
    message: r.message,
  };
}

/** One progress line per finished step (`  ✓ wake vllm-chat (l1)  312 ms`). */
export function progressLine(e: StepEvent): string | undefined {
  if (e.kind !== 'end') return undefined;
  const x = e.entry;
  const mark = x.result === 'ok' ? '✓' : x.result === 'rolled-back' ? '↺' : '✗';
  return `  ${mark} ${x.action} ${x.service}${x.depth ? ` (${x.depth})` : ''}  ${formatMs(x.ms)}${x.result !== 'ok' ? `  ${x.result}${x.error ? `: ${x.error}` : ''}` : ''}`;
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
        onStep: json ? undefined : (e) => {
          const line = progressLine(e);
          if (line) io.out(line + '\n');
        },
      });
      if (json) io.out(JSON.stringify(switchJson(result)) + '\n');
      else io.out(result.message + '\n');
      return result.ok ? EXIT.ok : EXIT.failed;
    });
  } finally {
    interrupt.dispose();
  }
}
