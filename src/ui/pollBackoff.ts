import { statusBarModel, type UiState } from './viewModel';

/** Periodic looks at the base interval that showed nothing new before polling slows down. */
export const BACKOFF_AFTER = 3;
/** The slowest idle polling, as a multiple of gpumod.pollIntervalSeconds. */
export const MAX_BACKOFF_FACTOR = 4;

/**
 * Idle polling backs off: while the periodic looks change nothing the window shows, each next one
 * waits twice as long, up to MAX_BACKOFF_FACTOR times the interval. Each look spawns systemctl and
 * probes every server, so an idle window at the base interval all day would cost more than it tells.
 * Anything that changes what is shown, and every look someone asked for (focusing the window, a
 * command, another process's switch in the state file), brings the base interval back.
 */
export class IdleBackoff {
  private last: string | undefined;
  private unchanged = 0;

  /** A periodic look ended with `state` shown. */
  seen(state: UiState): void {
    const shown = shownText(state);
    if (shown === this.last) this.unchanged++;
    else this.unchanged = 0;
    this.last = shown;
  }

  reset(): void {
    this.unchanged = 0;
  }

  /** The polling interval's multiplier: 1, then 2, 4, … up to MAX_BACKOFF_FACTOR. */
  factor(): number {
    if (this.unchanged < BACKOFF_AFTER) return 1;
    return Math.min(MAX_BACKOFF_FACTOR, 2 ** (this.unchanged - BACKOFF_AFTER + 1));
  }
}

/** What the window shows of `state`: the status bar and its tooltip (which lists every service). */
function shownText(state: UiState): string {
  // A fixed clock: "Last switch … ago" moving on is not a change worth looking sooner for.
  const m = statusBarModel(state, state.lastSwitch?.at ?? 0);
  return `${m.text}\n${m.warning}\n${m.tooltip}`;
}
