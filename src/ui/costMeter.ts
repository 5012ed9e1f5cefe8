import type { Event } from 'vscode';
import type { UiState } from './viewModel';

// extension.ts imports this module first, so this is the first statement of the bundle that runs
// (compiling the bundle came before it: VS Code's own code-loading figure includes that).
const loadStart = performance.now();
let loadEnd: number | undefined;

/** Called by extension.ts's last top-level statement: the bundle has been evaluated. */
export function bundleEvaluated(): void {
  loadEnd ??= performance.now();
}

/** What starting gpumod cost the window, in ms (what the host test checks against the goals). */
export interface StartupTimes {
  /** Evaluating the extension's bundle, from its first statement to its last. */
  evaluateMs?: number;
  /** activate(), from its first statement to its return. */
  activateMs: number;
  /** From activate()'s start to the status bar item shown (with its loading text). */
  firstPaintMs?: number;
  /** From activate()'s start to the status bar first showing what was observed (the mode, the VRAM). */
  observedPaintMs?: number;
}

/** What the window's gpumod costs: its startup, and what the host test needs to measure its polling. */
export interface ExtensionCosts {
  startup: StartupTimes;
  /** The extension host's PID: its CPU time, and its children's, is the polling's cost. */
  pid: number;
  /** Observations completed since activation (each poll is one). */
  observations: number;
  /**
   * The extension host's CPU time during those observations, ms: from each one's start to its end,
   * rendering what it found included (an upper bound: the host's other work meanwhile counts too).
   */
  observeCpuMs: number;
}

/**
 * Marks the moments of one activation with `performance.now()` (monotonic, sub-millisecond) and counts
 * the observations the window makes. Created at the start of activate().
 */
export class CostMeter {
  private readonly start = performance.now();
  private returned: number | undefined;
  private painted: number | undefined;
  private observedPaint: number | undefined;
  private observations = 0;
  private lastObservation: unknown;

  /** activate() has done its work and is about to return. */
  activated(): StartupTimes {
    this.returned ??= performance.now();
    return this.startup();
  }

  /** The status bar item now shows `state`. True the first time that is an observation. */
  paint(state: UiState): boolean {
    const now = performance.now();
    this.painted ??= now;
    if (!state.observation || this.observedPaint !== undefined) return false;
    this.observedPaint = now;
    return true;
  }

  /** Counts each new observation the window's state carries. */
  count(onDidChange: Event<UiState>): { dispose(): void } {
    return onDidChange((s) => {
      if (s.observation && s.observation !== this.lastObservation) this.observations++;
      this.lastObservation = s.observation;
    });
  }

  startup(): StartupTimes {
    const since = (t: number | undefined): number | undefined => (t === undefined ? undefined : round(t - this.start));
    return {
      evaluateMs: loadEnd === undefined ? undefined : round(loadEnd - loadStart),
      activateMs: since(this.returned) ?? round(performance.now() - this.start),
      firstPaintMs: since(this.painted),
      observedPaintMs: since(this.observedPaint),
    };
  }

  report(observeCpuMs: number): ExtensionCosts {
    return { startup: this.startup(), pid: process.pid, observations: this.observations, observeCpuMs };
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

export function startupText(t: StartupTimes): string {
  const ms = (v: number | undefined): string => (v === undefined ? '–' : `${v} ms`);
  return `startup: bundle evaluated in ${ms(t.evaluateMs)}, activate() ${ms(t.activateMs)}, status bar shown at ${ms(t.firstPaintMs)}, observed state shown at ${ms(t.observedPaintMs)}`;
}
