import type { MemoryKey, ServiceConfig } from '../config/types';
import { depthFor, mb } from '../engine/budget';
import type { Measured } from '../engine/footprints';
import type { Finding } from './doctorCommand';

/** A declaration further than this from what was measured is worth a warning. */
export const DRIFT = 0.2;

/**
 * `gpumod doctor`'s footprint check: each memory figure the config declares, against what gpumod last
 * measured for the unit's current command line. Pure.
 */
export function checkFootprint(svc: ServiceConfig, measured: Measured | undefined): Finding[] {
  if (!measured) return [];
  const depth = depthFor(svc.sleep);
  const pairs: Array<[MemoryKey, number, number | undefined, string]> = [
    ['vram_mb', svc.vramMb, measured.vram.awake, 'awake'],
    ['sleep_vram_mb', svc.sleepVramMb, depth ? measured.vram[depth] : undefined, `asleep (${svc.sleep})`],
    ['sleep_ram_mb', svc.sleepRamMb, depth && depth !== 'l2' ? measured.ram[depth] : undefined, `in host RAM asleep (${svc.sleep})`],
  ];
  const findings: Finding[] = [];
  for (const [key, declared, seen, when] of pairs) {
    if (seen === undefined || svc.undeclared?.includes(key)) continue;
    const off = Math.abs(declared - seen) / Math.max(1, seen);
    if (off <= DRIFT) continue;
    findings.push({
      service: svc.name,
      check: 'footprint',
      ok: false,
      severity: 'warning',
      message: `${key} ${declared} is ${Math.round(off * 100)}% ${declared > seen ? 'above' : 'below'} what gpumod measured ${when}: ${seen} MB (${mb(seen)}); it plans by the measurement, and falls back to the declaration when the unit's command line changes`,
      fix: `set ${key}: ${seen} for ${svc.name} in gpumod.yaml, or remove ${key} and let gpumod use what it measures`,
    });
  }
  if (findings.length === 0) {
    const seen = [measured.vram.awake !== undefined ? `${mb(measured.vram.awake)} awake` : '', ...Object.entries(measured.vram).filter(([k]) => k !== 'awake').map(([k, v]) => `${mb(v ?? 0)} asleep (${k})`)].filter(Boolean);
    if (seen.length > 0) findings.push({ service: svc.name, check: 'footprint', ok: true, severity: 'info', message: `the declared memory is within ${DRIFT * 100}% of what gpumod measured (${seen.join(', ')})` });
  }
  return findings;
}
