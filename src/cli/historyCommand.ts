import { formatMs } from '../engine/deadline';
import { allowFlags, flagString, UsageError, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { withSession } from './session';
import { table } from './table';
import { exportTimeline } from './timelineExport';

/**
 * `gpumod history [--limit N] [--json] [--open]`: past switches with their timelines. `--open` writes
 * the last switch's chart as one HTML file into the state dir and prints its path, for a browser.
 */
export async function historyCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'json', 'limit', 'verbose', 'open']);
  const limit = Number(flagString(args, 'limit') ?? 20);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit takes a whole number from 1 to 500');
  return withSession(args, io, async ({ machine }) => {
    // The last switch may lie behind many single-service actions.
    const records = await machine.ports.store.readHistory(args.flags.has('open') ? 500 : limit);
    if (args.flags.has('open')) {
      const last = [...records].reverse().find((r) => r.kind === 'switch');
      if (!last) {
        io.err('no switch recorded yet: nothing to chart\n');
        return EXIT.failed;
      }
      const path = await exportTimeline(machine.stateDir, last);
      io.out(args.flags.has('json') ? JSON.stringify({ path }) + '\n' : `${path}\n`);
      return EXIT.ok;
    }
    if (args.flags.has('json')) {
      io.out(JSON.stringify(records) + '\n');
      return EXIT.ok;
    }
    if (records.length === 0) {
      io.out('no switches recorded yet\n');
      return EXIT.ok;
    }
    const rows = [['WHEN', 'WHAT', 'TIME', 'ESTIMATE', 'RESULT']];
    for (const r of records) {
      const what = r.kind === 'service' ? `${r.service}` : `${r.from ?? '(none)'} → ${r.to ?? '(none)'}`;
      const result = r.ok ? 'ok' : `${r.cancelled ? 'cancelled' : 'failed'}${r.rolledBack ? ', rolled back' : ''}${r.error ? `: ${r.error}` : ''}`;
      rows.push([new Date(r.startedAt).toISOString().replace('T', ' ').slice(0, 19), what, formatMs(r.totalMs), r.estimateMs ? formatMs(r.estimateMs) : '', result]);
    }
    io.out(table(rows));
    return EXIT.ok;
  });
}
