import { DEFAULT_GATEWAY_PORT, type Config } from '../config/types';
import { startGateway } from '../gateway/server';
import { recover } from '../engine/switcher';
import { allowFlags, flagString, UsageError, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { gatewayInstall } from './gatewayInstall';
import { stopSignals, withSession } from './session';

/** `gpumod gateway [--port N]`: serves until SIGINT or SIGTERM (a systemd stop), then closes cleanly. */
export async function gatewayCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  const install = args.positional[0] === 'install';
  if (args.positional.length > (install ? 1 : 0)) throw new UsageError('usage: gpumod gateway [--port N] | gpumod gateway install [--port N] [--print]');
  allowFlags(args, ['config', 'verbose', 'port', ...(install ? ['print'] : [])]);
  const flag = flagString(args, 'port');
  const port = flag === undefined ? undefined : Number(flag);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new UsageError('--port takes a port number (0-65535)');
  const listensOn = (config: Config): number => port ?? config.gateway?.port ?? DEFAULT_GATEWAY_PORT;
  if (install) {
    // The unit reads the config when it starts: a bad one is refused now, not in the journal later.
    return withSession(args, io, ({ config }) => gatewayInstall(args, io, port, listensOn(config)));
  }
  return withSession(args, io, async ({ config, machine }) => {
    const signals = stopSignals();
    try {
      // Restarted after a crash or a SIGKILL mid-wake: the switch it left is reconciled before the first request.
      const r = await recover(config, machine.ports, { owner: 'gpumod gateway (start)' });
      if (r.interrupted) io.err(`gpumod gateway: reconciled an interrupted switch to ${r.interrupted.to}; the machine is ${r.mode ? `in ${r.mode}` : 'in no mode'}\n`);
      const gateway = await startGateway(config, machine.ports, { port: listensOn(config), token: config.gateway?.token, stateDir: machine.stateDir });
      io.out(`gpumod gateway: ${gateway.url} (loopback only${config.gateway?.token ? ', bearer token required' : ''})\n`);
      await signals.stopped;
      await gateway.close();
    } finally {
      signals.dispose();
    }
    return EXIT.ok;
  });
}
