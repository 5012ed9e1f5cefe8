/** Where CLI commands write; injected so tests and the demo can capture output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  isTty: boolean;
  env: Record<string, string | undefined>;
}

export const EXIT = { ok: 0, failed: 1, usage: 2, locked: 3 } as const;
