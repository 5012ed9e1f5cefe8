import { version } from '../package.json';
import { parseArgs, UsageError, type ParsedArgs } from './cli/args';
import { EXIT, type CliIo } from './cli/io';
import { importCommand } from './cli/importCommand';
import { validateCommand } from './cli/validateCommand';

const HELP = `gpumod ${version}: switch the GPU inference servers of this machine between modes.

Usage: gpumod COMMAND [options]

Commands:
  validate            check the configuration; prints FILE:LINE:COL: problem for each problem
  import DIR          convert the original gpumod's presets/ and modes/ into gpumod.yaml
                      [--output FILE] [--force]; reports what does not carry over

Options:
  --config FILE       the configuration (default: $GPUMOD_CONFIG, else ~/.config/gpumod/gpumod.yaml)
  --json              machine-readable output
  -h, --help          this help
  -V, --version       the version

Exit codes: 0 ok, 1 switch failed, 2 usage or configuration error, 3 another switch holds the lock.
`;

type Command = (args: ParsedArgs, io: CliIo) => Promise<number>;

/** The registration table: one entry per command. */
const COMMANDS: Record<string, Command> = {
  validate: validateCommand,
  import: importCommand,
};

export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    const args = parseArgs(argv);
    if (args.flags.has('version')) {
      io.out(`${version}\n`);
      return EXIT.ok;
    }
    if (args.flags.has('help') || args.command === 'help' || args.command === undefined) {
      io.out(HELP);
      return args.command === undefined && !args.flags.has('help') ? EXIT.usage : EXIT.ok;
    }
    const command = COMMANDS[args.command];
    if (!command) throw new UsageError(`unknown command "${args.command}" (try gpumod --help)`);
    return await command(args, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`gpumod: ${e.message}\n`);
      return EXIT.usage;
    }
    io.err(`gpumod: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.failed;
  }
}

if (require.main === module) {
  const io: CliIo = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    isTty: Boolean(process.stdout.isTTY),
    env: process.env,
  };
  void main(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
  });
}
