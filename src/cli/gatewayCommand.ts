import { startGateway } from '../gateway/server';
import { allowFlags, flagString, UsageError, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { withSession } from './session';

/** `gpumod gateway [--port N]`: serves until SIGINT or SIGTERM (a systemd stop), then closes cleanly. */
export async function gatewayCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'verbose', 'port']);
  const flag = flagString(args, 'port');
  const port = flag === undefined ? undefined : Number(flag);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new UsageError('--port takes a port number (0-65535)');
  return withSession(args, io, async ({ config, machine }) => {
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const gateway = await startGateway(config, machine.ports, { port: port ?? config.gateway?.port ?? 7099, token: config.gateway?.token });
    io.out(`gpumod gateway: ${gateway.url} (loopback only${config.gateway?.token ? ', bearer token required' : ''})\n`);
    await stopped;
    await gateway.close();
    return EXIT.ok;
  });
}
