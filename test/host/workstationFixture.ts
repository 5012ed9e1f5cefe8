// Brings up the demo workstation (eight fakes as units of a sandboxed systemd user manager, fake
// nvidia-smi) for the host and UI tests, prints one JSON line {"env": …} with what the VS Code server
// must pass to the extension, and tears everything down when its stdin closes or on SIGTERM/SIGINT.
// Usage: node out/test/host/workstationFixture.js [--card 32|24] [--time-scale N] [--port-base N]
import { join } from 'node:path';
import { bringUp, type Workstation } from '../../demo/workstation';
import { silentLogger } from '../../src/system/logger';
import { sandboxVars, startSandbox, stopSandbox } from '../integration/support/sandbox';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const dir = await startSandbox();
  let ws: Workstation | undefined;
  let closing = false;
  const close = async (code: number): Promise<void> => {
    if (closing) return;
    closing = true;
    try {
      await ws?.teardown();
    } finally {
      await stopSandbox(dir).catch((e) => process.stderr.write(`fixture: stopping the sandbox failed: ${String(e)}\n`));
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => void close(0));
  process.on('SIGINT', () => void close(0));
  process.stdin.on('end', () => void close(0));
  process.stdin.resume();
  try {
    const env = sandboxVars(dir);
    ws = await bringUp({
      dir: join(dir, 'workstation'),
      managerEnv: env,
      unitDir: join(env.XDG_CONFIG_HOME, 'systemd/user'),
      timeScale: Number(arg('time-scale', '50')),
      card: arg('card', '32') === '24' ? '24' : '32',
      portBase: Number(arg('port-base', '19800')),
      log: silentLogger,
    });
    process.stdout.write(JSON.stringify({ env: ws.env, configPath: ws.configPath }) + '\n');
  } catch (e) {
    process.stderr.write(`fixture: ${(e as Error).stack}\n`);
    await close(1);
  }
}

void main();
