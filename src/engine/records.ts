import type { SwitchRecord, SwitchState } from './types';

/**
 * Files on disk are not trusted to be ours or whole: these accept what has the expected shape and
 * drop the rest, so a hand-edited or foreign file never crashes a switch.
 */
export function asSwitchState(v: unknown): SwitchState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Partial<SwitchState>;
  if (s.mode !== undefined && typeof s.mode !== 'string') return undefined;
  if (typeof s.at !== 'number' || typeof s.services !== 'object' || s.services === null) return undefined;
  const sw = s.switching;
  const switching =
    sw && typeof sw === 'object' && typeof sw.to === 'string' && typeof sw.pid === 'number' && typeof sw.startedAt === 'number' ? sw : undefined;
  return { mode: s.mode, at: s.at, services: s.services, ...(switching ? { switching } : {}) };
}

export function asSwitchRecord(v: unknown): SwitchRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<SwitchRecord>;
  if ((r.kind !== 'switch' && r.kind !== 'service') || typeof r.startedAt !== 'number' || typeof r.totalMs !== 'number') return undefined;
  if (typeof r.ok !== 'boolean' || !Array.isArray(r.steps)) return undefined;
  const steps = r.steps.filter((e) => typeof e === 'object' && e !== null && typeof e.service === 'string' && typeof e.ms === 'number');
  return { ...(r as SwitchRecord), steps };
}
