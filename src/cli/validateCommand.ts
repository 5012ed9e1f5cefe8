import { formatProblems, loadConfig } from '../config/load';
import { allowFlags, flagString, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { resolveConfigPath } from '../config/paths';

/** `gpumod validate [--config FILE] [--json]`: exit 0 when valid, 2 with every problem otherwise. */
export async function validateCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'json']);
  const file = resolveConfigPath(flagString(args, 'config'), io.env);
  const result = await loadConfig(file);
  if (args.flags.has('json')) {
    io.out(JSON.stringify(result.ok ? { ok: true, file, services: result.config.services.size, modes: result.config.modes.size } : { ok: false, file, problems: result.problems }) + '\n');
    return result.ok ? EXIT.ok : EXIT.usage;
  }
  if (!result.ok) {
    io.err(formatProblems(result.problems) + '\n');
    io.err(`${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in ${file}\n`);
    return EXIT.usage;
  }
  io.out(`${file}: valid (${result.config.services.size} services, ${result.config.modes.size} modes)\n`);
  return EXIT.ok;
}
