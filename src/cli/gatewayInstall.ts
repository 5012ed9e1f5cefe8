// `gpumod gateway install`: the gateway as a systemd --user unit of the user's session, restarted
// if it fails (killed mid-wake included: the next switch reconciles what it left).
import { realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfigPath } from '../config/paths';
import { createSystemd } from '../system/systemd';
import { streamLogger } from '../system/logger';
import type { Env } from '../system/process';
import { writeFileAtomic } from '../system/stateStore';
import { unitFileText } from '../system/unitFile';
import { flagString, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';

export const GATEWAY_UNIT = 'gpumod-gateway.service';

/** The unit file: this node and this CLI, the config by absolute path, restarted on failure, started with the session. */
export function gatewayUnitText(cli: string, configPath: string, port: number | undefined, node = process.execPath): string {
  const text = unitFileText(GATEWAY_UNIT, {
    description: 'gpumod gateway: wake the model a request names (OpenAI-compatible, loopback)',
    execStart: [node, cli, 'gateway', '--config', configPath, ...(port !== undefined ? ['--port', String(port)] : [])],
    service: { Restart: 'on-failure', RestartSec: '1', TimeoutStopSec: '120' },
  });
  return `${text}\n[Install]\nWantedBy=default.target\n`;
}

/** Where the user's own units live: $XDG_CONFIG_HOME/systemd/user. */
export function userUnitDir(env: Env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'systemd', 'user');
}

/** `port`: the --port given (the unit then always uses it; without it, the config's gateway.port at each start). */
export async function gatewayInstall(args: ParsedArgs, io: CliIo, port: number | undefined, listensOn: number): Promise<number> {
  const configPath = resolve(resolveConfigPath(flagString(args, 'config'), io.env));
  const cli = realpathSync(process.argv[1] ?? '');
  const text = gatewayUnitText(cli, configPath, port);
  if (args.flags.has('print')) {
    io.out(text);
    return EXIT.ok;
  }
  const dir = userUnitDir(io.env);
  await mkdir(dir, { recursive: true });
  const file = join(dir, GATEWAY_UNIT);
  await writeFileAtomic(file, text);
  const systemd = createSystemd(streamLogger(io.err, args.flags.has('verbose') ? 'info' : 'warn'), { env: io.env });
  await systemd.daemonReload({ timeoutMs: 30_000 });
  await systemd.enable(GATEWAY_UNIT, true, { timeoutMs: 30_000 });
  await systemd.restart(GATEWAY_UNIT, { timeoutMs: 30_000 }); // an earlier install's process picks up this one's settings
  io.out(`gpumod gateway: ${file} written, enabled and started; clients use http://127.0.0.1:${listensOn}/v1 (logs: journalctl --user -u ${GATEWAY_UNIT})\n`);
  return EXIT.ok;
}
