import { serviceAction, type ServiceActionName } from '../engine/switcher';
import { allowFlags, flagString, UsageError, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { interruptSignal, withSession } from './session';
import { actionJson } from '../agent/reports';
import { printProgress } from './timeline';

function serviceArg(args: ParsedArgs, usage: string): string {
  const name = args.positional[0];
  if (!name || args.positional.length > 1) throw new UsageError(`usage: gpumod ${usage}`);
  return name;
}

/** `gpumod sleep|wake|start|stop|restart SERVICE`, under the same lock as a switch. */
export function serviceCommand(action: 'sleep' | 'wake' | 'start' | 'stop' | 'restart') {
  return async (args: ParsedArgs, io: CliIo): Promise<number> => {
    allowFlags(args, ['config', 'json', 'verbose', 'force', ...(action === 'sleep' ? ['level'] : [])]);
    const name = serviceArg(args, `${action} SERVICE${action === 'sleep' ? ' [--level 1|2]' : ''}`);
    const level = flagString(args, 'level');
    if (level !== undefined && level !== '1' && level !== '2') throw new UsageError('--level takes 1 or 2');
    const run: ServiceActionName = action === 'sleep' && level === '2' ? 'sleepDeep' : action;
    const interrupt = interruptSignal(io);
    try {
      return await withSession(args, io, async ({ config, machine }) => {
        if (!config.services.has(name)) throw new UsageError(`unknown service "${name}" (services: ${[...config.services.keys()].join(', ')})`);
        const r = await serviceAction(config, name, run, machine.ports, {
          signal: interrupt.signal,
          force: args.flags.has('force'),
          onStep: args.flags.has('json') ? undefined : printProgress(io),
        });
        if (args.flags.has('json')) {
          io.out(JSON.stringify(actionJson(r)) + '\n');
        } else {
          io.out(`${r.message}\n`);
        }
        return r.ok ? EXIT.ok : EXIT.failed;
      });
    } finally {
      interrupt.dispose();
    }
  };
}

/** `gpumod logs SERVICE [--lines N] [--json]`: the unit's journal tail. */
export async function logsCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'lines', 'verbose', 'json']);
  const name = serviceArg(args, 'logs SERVICE [--lines N] [--json]');
  const lines = Number(flagString(args, 'lines') ?? 100);
  if (!Number.isInteger(lines) || lines < 1 || lines > 100000) throw new UsageError('--lines takes a whole number from 1 to 100000');
  return withSession(args, io, async ({ config, machine }) => {
    const svc = config.services.get(name);
    if (!svc) throw new UsageError(`unknown service "${name}" (services: ${[...config.services.keys()].join(', ')})`);
    if (args.flags.has('json')) {
      const entries = await machine.systemd.journalEntries(svc.unit, lines);
      io.out(JSON.stringify({ service: name, unit: svc.unit, entries }) + '\n');
    } else {
      io.out(await machine.systemd.journal(svc.unit, lines));
    }
    return EXIT.ok;
  });
}
