import { version } from '../package.json';
import { parseArgs, UsageError, type ParsedArgs } from './cli/args';
import { EXIT, type CliIo } from './cli/io';
import { doctorCommand } from './cli/doctorCommand';
import { gatewayCommand } from './cli/gatewayCommand';
import { historyCommand } from './cli/historyCommand';
import { importCommand } from './cli/importCommand';
import { initCommand } from './cli/initCommand';
import { mcpCommand } from './cli/mcpCommand';
import { planCommand } from './cli/planCommand';
import { logsCommand, serviceCommand } from './cli/serviceCommand';
import { ConfigError } from './cli/session';
import { statusCommand } from './cli/statusCommand';
import { switchCommand } from './cli/switchCommand';
import { isGpumodError } from './errors';
import { validateCommand } from './cli/validateCommand';

const HELP = `gpumod ${version}: switch the GPU inference servers of this machine between modes.

Usage: gpumod COMMAND [options]

Commands:
  status              services, their observed states and VRAM, the GPU, the current mode
  plan MODE           what a switch to MODE would do (steps, VRAM before → after, estimate)
  switch MODE         switch to MODE (Ctrl-C cancels and rolls back)
  sleep SERVICE       put a service to sleep [--level 1|2]
  wake SERVICE        wake a sleeping service
  start|stop|restart SERVICE
  logs SERVICE        the unit's journal [--lines N]
  history             past switches and their times [--limit N]; --open writes the last
                      switch's timeline chart as an HTML file and prints its path
  doctor [SERVICE…]   can each service do what the config says? each finding with its fix
                      (exit 1 when any finding is an error)
  validate            check the configuration; prints FILE:LINE:COL: problem for each problem
  import DIR          convert the original gpumod's presets/ and modes/ into gpumod.yaml
                      [--output FILE] [--force]; reports what does not carry over
  init                propose gpumod.yaml from your systemd user units (vLLM, llama-server,
                      uvicorn/FastAPI): ports, models, sleep, memory measured now, a mode per
                      service; writes a new file, adds to one only with --merge; --print shows
                      it instead; --all lists every unit not recognised
  gateway             an OpenAI-compatible endpoint on loopback (gateway.port, default 7099):
                      a request wakes the service that serves the model it names [--port N];
                      gateway install: as a systemd --user unit, enabled and started [--print]
  mcp                 serve the agent tools (status, plan, switch, service actions) over
                      MCP on stdio, for agents outside VS Code; reloads the config on change

Options:
  --config FILE       the configuration (default: $GPUMOD_CONFIG, else ~/.config/gpumod/gpumod.yaml)
  --json              machine-readable output
  --force             sleep without draining requests; skip the VRAM check of single actions
  --verbose           log every systemctl, nvidia-smi and HTTP call to stderr
  -h, --help          this help
  -V, --version       the version

Exit codes: 0 ok, 1 switch failed, 2 usage or configuration error, 3 another switch holds the lock.
`;

type Command = (args: ParsedArgs, io: CliIo) => Promise<number>;

/** The registration table: one entry per command. */
const COMMANDS: Record<string, Command> = {
  status: statusCommand,
  plan: planCommand,
  switch: switchCommand,
  sleep: serviceCommand('sleep'),
  wake: serviceCommand('wake'),
  start: serviceCommand('start'),
  stop: serviceCommand('stop'),
  restart: serviceCommand('restart'),
  logs: logsCommand,
  history: historyCommand,
  doctor: doctorCommand,
  validate: validateCommand,
  import: importCommand,
  init: initCommand,
  mcp: mcpCommand,
  gateway: gatewayCommand,
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
    if (e instanceof UsageError || isGpumodError(e, 'USAGE')) {
      io.err(`gpumod: ${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof ConfigError) {
      io.err(`${e.message}\n`);
      return EXIT.usage;
    }
    if (isGpumodError(e, 'LOCKED')) {
      io.err(`gpumod: ${e.message}\n`);
      return EXIT.locked;
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
