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

/** The value of gpumod.workspaceMode from one folder's `inspect()`, or the workspace's. */
export interface WorkspaceModeValues {
  workspaceFolderValue?: unknown;
  workspaceValue?: unknown;
}

/**
 * The mode a workspace names: the first folder or workspace value that is a non-blank string. A
 * user-level value is not among the inputs: it would make every window switch.
 */
export function namedWorkspaceMode(values: readonly (WorkspaceModeValues | undefined)[]): string | undefined {
  for (const info of values) {
    const value = info?.workspaceFolderValue ?? info?.workspaceValue;
    if (typeof value === 'string' && value.trim()) return value.trim();
  }
  return undefined;
}

/** What the window should do when asked to decide: decide now, keep waiting for trust, or nothing. */
export type AutoSwitchTurn = 'decide' | 'await-trust' | 'skip';

/**
 * When the auto-switch decides, as a pure state machine: once per window, in the first turn the
 * window is trusted. An untrusted window says so once (its first turn), then waits: the grant of
 * trust, or any later turn after it, decides — and only one of them does.
 */
export class AutoSwitchGate {
  private state: 'fresh' | 'untrusted' | 'decided' = 'fresh';

  turn(trusted: boolean): AutoSwitchTurn {
    if (this.state === 'decided') return 'skip';
    if (trusted) {
      this.state = 'decided';
      return 'decide';
    }
    if (this.state === 'untrusted') return 'skip';
    this.state = 'untrusted';
    return 'await-trust';
  }
}
