import type { Config } from '../config/types';
import { mb } from '../engine/budget';
import { measuredNow } from '../engine/footprints';
import { heldBy, heldText } from '../engine/heldMemory';
import { learnFrom } from '../engine/learn';
import { currentMode } from '../engine/currentMode';
import { observe } from '../engine/observe';
import { explainEnded } from '../engine/routers';
import type { Observation, ServiceObservation } from '../engine/types';
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

/** `held` adds, per service, the VRAM it holds and where the figure comes from (observed, measured, declared). */
export function observationJson(obs: Observation, held?: { config: Config; measured: ReturnType<typeof measuredNow> }): unknown {
  const memory = (o: ServiceObservation): object => {
    const svc = held?.config.services.get(o.name);
    const h = svc ? heldBy(svc, o, held?.measured.get(o.name)) : undefined;
    return held ? { held_vram_mb: h?.mb ?? 0, held_vram_source: h?.source ?? null, ram_mb: o.ramMb } : {};
  };
  return {
    at: new Date(obs.at).toISOString(),
    services: [...obs.services.values()].map((o) => ({ name: o.name, state: o.state, sleep: o.sleep, healthy: o.healthy, vram_mb: o.vramMb, ...memory(o), detail: o.detail })),
    gpu: obs.gpu.available
      ? obs.gpu.gpus.map((g) => ({ index: g.index, name: g.name, total_mb: g.totalMb, used_mb: g.usedMb, foreign_mb: obs.foreignMb.get(g.index) ?? 0 }))
      : { available: false, reason: obs.gpu.reason },
  };
}

/** `gpumod status`: what is observed now; the recorded mode is never trusted over it. */
export async function statusCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'json', 'verbose']);
  return withSession(args, io, async ({ config, machine }) => {
    const [obs, state] = await Promise.all([observe(config, machine.ports, new AbortController().signal), machine.ports.store.readState()]);
    explainEnded(config, obs, state);
    const cur = currentMode(config, obs, state?.mode);
    const measured = measuredNow(await learnFrom(config, obs, machine.ports.store, machine.ports.log), config, obs);
    if (args.flags.has('json')) {
      const json = observationJson(obs, { config, measured }) as object;
      io.out(JSON.stringify({ mode: cur.mode ?? null, recorded_mode: state?.mode ?? null, drift: cur.drift, switching: state?.switching ?? null, ...json }) + '\n');
      return EXIT.ok;
    }
    const rows = [['SERVICE', 'STATE', 'VRAM', 'DRIVER', 'UNIT', 'DETAIL']];
    for (const svc of config.services.values()) {
      const o = obs.services.get(svc.name);
      const held = heldBy(svc, o, measured.get(svc.name));
      rows.push([svc.name, stateLabel(o), held ? heldText(held) : '-', svc.driver, svc.unit, o?.detail ?? '']);
    }
    io.out(`mode: ${cur.mode ?? '(none)'}${state?.mode && state.mode !== cur.mode ? ` (recorded ${state.mode}, not what is observed)` : ''}\n`);
    for (const d of cur.drift) io.out(`drift: ${d}\n`);
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
