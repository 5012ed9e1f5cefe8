// `node out/test/bench/traceSwitch.js [from] [to] [--card 32|24] [--time-scale N]`: one switch on the
// profile workstation, printed as the engine's log with each line's time since the switch began, and
// its timeline. Where the bench says "overhead", this says where it went. Prepares the state the
// bench measures: a warm-up through every mode, then `from` entered from the mode before it.
import { join } from 'node:path';
import { PROFILE } from '../../demo/profile';
import { bringUp } from '../../demo/workstation';
import { formatProblems, loadConfig } from '../../src/config/load';
import { switchMode } from '../../src/engine/switcher';
import { createMachine } from '../../src/machine';
import { silentLogger, streamLogger } from '../../src/system/logger';
import { sandboxVars, startSandbox, stopSandbox } from '../integration/support/sandbox';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const [from = 'code', to = 'rag'] = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
  const sandbox = await startSandbox();
  const env = sandboxVars(sandbox);
  const card = arg('card', '32') === '24' ? '24' : '32';
  const ws = await bringUp({ dir: join(sandbox, 'trace'), managerEnv: env, unitDir: join(env.XDG_CONFIG_HOME, 'systemd/user'), timeScale: Number(arg('time-scale', '10')), card, portBase: 18700, log: silentLogger, profile: PROFILE });
  let t0 = 0;
  let tracing = false;
  const lines: string[] = [];
  const log = streamLogger((l) => tracing && lines.push(`${String(Math.round(performance.now() - t0)).padStart(5)} ms ${l.trimEnd()}`), 'trace');
  try {
    const loaded = await loadConfig(ws.configPath);
    if (!loaded.ok) throw new Error(formatProblems(loaded.problems));
    const mc = createMachine(loaded.config, log, { ...process.env, ...ws.env });
    const go = (mode: string): ReturnType<typeof switchMode> => switchMode(loaded.config, mode, mc.ports, { signal: new AbortController().signal, owner: 'trace' });
    const before = from === 'rag' ? 'code' : 'rag';
    for (const m of ['code', 'rag', 'speak', before, from]) await go(m);
    t0 = performance.now();
    tracing = true;
    const r = await go(to);
    tracing = false;
    process.stdout.write(`${lines.join('\n')}\n\n${from} → ${to}: ${r.message} (${r.totalMs} ms)\n`);
    for (const e of r.timeline) process.stdout.write(`  ${JSON.stringify(e)}\n`);
    await mc.close();
  } finally {
    await ws.teardown();
    await stopSandbox(sandbox);
  }
}

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
