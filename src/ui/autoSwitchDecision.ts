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

/** What the window should do at a turn: decide now, keep waiting for trust, or nothing. */
export type AutoSwitchTurn = 'decide' | 'await-trust' | 'skip';

/**
 * When the auto-switch decides, as a pure state machine: once per window. A window trusted from
 * the start decides at its first turn. An untrusted one says so once, then waits for trust and for
 * the workspace's mode to be visible: VS Code hands restricted settings (gpumod.workspaceMode) to
 * the extension only after the grant event, so the decision comes at the first turn after the grant
 * that sees the mode — the grant itself, the settings change or an observation, whichever is first.
 */
export class AutoSwitchGate {
  private state: 'fresh' | 'untrusted' | 'decided' = 'fresh';

  turn(trusted: boolean, named: boolean): AutoSwitchTurn {
    if (this.state === 'decided') return 'skip';
    if (trusted && (this.state === 'fresh' || named)) {
      this.state = 'decided';
      return 'decide';
    }
    if (trusted || this.state === 'untrusted') return 'skip';
    this.state = 'untrusted';
    return 'await-trust';
  }
}
