export type AutoSwitchSetting = 'off' | 'ask' | 'on';

/** What to do, as a pure decision (unit-tested): never in an untrusted workspace. */
export function autoSwitchDecision(
  trusted: boolean,
  setting: AutoSwitchSetting,
  wanted: string | undefined,
  modes: string[],
  current: string | undefined,
): { kind: 'none' } | { kind: 'unknown-mode'; mode: string } | { kind: 'ask' | 'switch'; mode: string } {
  if (!trusted || setting === 'off' || !wanted) return { kind: 'none' };
  if (!modes.includes(wanted)) return { kind: 'unknown-mode', mode: wanted };
  if (wanted === current) return { kind: 'none' };
  return { kind: setting === 'on' ? 'switch' : 'ask', mode: wanted };
}
