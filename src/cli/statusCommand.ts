import { statusReport } from '../agent/reports';
import { mb } from '../engine/budget';
import { modeLabel } from '../engine/currentMode';
import { heldBy, heldText } from '../engine/heldMemory';
import type { ServiceObservation } from '../engine/types';
import { allowFlags, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { withSession } from './session';
import { table } from './table';
import { pidAlive } from '../system/pids';

export function stateLabel(o: ServiceObservation | undefined): string {
  if (!o) return 'unknown';
  const base = o.state === 'sleeping' && o.sleep ? `sleeping (${o.sleep})` : o.state;
  return o.state === 'running' && !o.healthy ? `${base}, unhealthy` : base;
}

/** `gpumod status`: what is observed now; the recorded mode is never trusted over it. */
export async function statusCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'json', 'verbose']);
  return withSession(args, io, async ({ config, machine }) => {
    const { json, observation: obs, state, mode, drift, idle, measured } = await statusReport(config, machine.ports);
    if (args.flags.has('json')) {
      io.out(JSON.stringify(json) + '\n');
      return EXIT.ok;
    }
    const rows = [['SERVICE', 'STATE', 'VRAM', 'DRIVER', 'UNIT', 'DETAIL']];
    for (const svc of config.services.values()) {
      const o = obs.services.get(svc.name);
      const held = heldBy(svc, o, measured.get(svc.name));
      rows.push([svc.name, stateLabel(o), held ? heldText(held) : '-', svc.driver, svc.unit, o?.detail ?? '']);
    }
    io.out(`mode: ${modeLabel(mode, idle) ?? '(none)'}${state?.mode && state.mode !== mode ? ` (recorded ${state.mode}, not what is observed)` : ''}\n`);
    for (const d of drift) io.out(`drift: ${d}\n`);
    if (state?.switching) {
      const s = state.switching;
      const what = `${s.from ?? '(none)'} → ${s.to} by PID ${s.pid}`;
      // The marker stays while a switch runs; it is only "interrupted" once its process (PID and start time) is gone.
      io.out(pidAlive(s) ? `switch in progress: ${what}\n` : `interrupted switch: ${what} (the next switch reconciles it)\n`);
    }
    if (obs.gpu.available) {
      for (const g of obs.gpu.gpus) io.out(`GPU ${g.index} ${g.name}: ${g.usedMb === undefined ? '?' : mb(g.usedMb)} of ${g.totalMb === undefined ? '?' : mb(g.totalMb)} used${obs.foreignMb.get(g.index) ? `, ${mb(obs.foreignMb.get(g.index) ?? 0)} by other processes` : ''}\n`);
    } else {
      io.out(`GPU: ${obs.gpu.reason}\n`);
    }
    io.out(table(rows));
    return EXIT.ok;
  });
}
