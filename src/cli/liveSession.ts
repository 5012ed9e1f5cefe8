import { stat } from 'node:fs/promises';
import { formatProblems, loadConfig } from '../config/load';
import type { Config } from '../config/types';
import { createMachine, type Machine } from '../machine';
import type { Logger } from '../engine/logger';
import type { Env } from '../system/process';

interface Held {
  config: Config;
  machine: Machine;
  /** Calls running on this machine; a replaced one closes when the last ends. */
  uses: number;
  retired: boolean;
}

export interface Lease {
  config: Config;
  machine: Machine;
  release(): void;
}

/**
 * The config of a long-lived process (`gpumod mcp`), reloaded when the file changes between calls:
 * an edit that does not load leaves the last valid one in force, as in VS Code; `problems` says why.
 */
export class LiveSession {
  private held: Held | undefined;
  private stamp = '';
  /** The last load's problems (empty when it loaded). */
  problems = '';

  constructor(
    readonly file: string,
    private readonly log: Logger,
    private readonly env: Env,
    /** Called when a new config comes into force (the tools' enums change). */
    private readonly onChange: () => void = () => undefined,
  ) {}

  /** The config in force now, reloaded first if the file changed; undefined when none ever loaded. */
  async lease(): Promise<Lease | undefined> {
    await this.refresh();
    const h = this.held;
    if (!h) return undefined;
    h.uses++;
    let done = false;
    return {
      config: h.config,
      machine: h.machine,
      release: () => {
        if (done) return;
        done = true;
        h.uses--;
        if (h.retired && h.uses === 0) void h.machine.close();
      },
    };
  }

  /** The config in force, without taking a lease (the tools' schemas). */
  async config(): Promise<Config | undefined> {
    await this.refresh();
    return this.held?.config;
  }

  async close(): Promise<void> {
    const h = this.held;
    this.held = undefined;
    if (h) {
      h.retired = true;
      if (h.uses === 0) await h.machine.close();
    }
  }

  private async refresh(): Promise<void> {
    const s = await stat(this.file).then(
      (st) => `${st.mtimeMs}:${st.size}:${st.ino}`,
      (e: NodeJS.ErrnoException) => `missing:${e.code ?? ''}`,
    );
    if (s === this.stamp) return;
    this.stamp = s;
    const r = await loadConfig(this.file);
    if (!r.ok) {
      this.problems = formatProblems(r.problems);
      this.log.warn(`${this.file} does not load${this.held ? '; the last valid configuration stays in force' : ''}:\n${this.problems}`);
      return;
    }
    this.problems = '';
    const old = this.held;
    this.held = { config: r.config, machine: createMachine(r.config, this.log, this.env), uses: 0, retired: false };
    if (old) {
      old.retired = true;
      if (old.uses === 0) await old.machine.close();
      this.log.info(`${this.file} reloaded`);
      this.onChange();
    }
  }
}
