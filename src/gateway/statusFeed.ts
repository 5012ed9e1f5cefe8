// /gpumod/events: one observer for every window that follows the gateway. While anyone listens, the
// machine is observed every few seconds (and at once after a switch, or when the state file changes),
// and a `status` event goes out only when something in it changed; `switch` events tell the gateway's
// own wakes and idle sleeps as they begin and end.
import { watch, type FSWatcher } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Observation, SwitchState } from '../engine/types';
import type { GatewayStatus } from './status';
import type { WakerEvent } from './waker';

export interface Look {
  obs: Observation;
  state: SwitchState | undefined;
}

export interface FeedOptions {
  /** A fresh look at the machine; `periodic` looks may take a recent GPU sample. */
  look(periodic: boolean): Promise<Look>;
  build(look: Look): GatewayStatus;
  periodMs: number;
  /** Where state.json lives: a switch by anyone rewrites it. */
  stateDir?: string;
  /** Follows the GPU while someone listens (nvidia-smi's loop mode), so periodic looks start no process. */
  follow?: (periodMs: number) => () => void;
  onError(message: string): void;
}

const KEEPALIVE_MS = 15_000;

/** A status with what changes at every look (its time, nvidia-smi's duration) left out: equal means nothing to tell. */
function essence(s: GatewayStatus): string {
  const gpu = s.observation.gpu.available ? { ...s.observation.gpu, ms: 0 } : s.observation.gpu;
  return JSON.stringify({ ...s, observation: { ...s.observation, at: 0, gpu } });
}

export class StatusFeed {
  private readonly clients = new Set<ServerResponse>();
  private last: Look | undefined;
  private sent = '';
  private looking: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private unfollow: (() => void) | undefined;
  private watcher: FSWatcher | undefined;
  private closed = false;

  constructor(private readonly opts: FeedOptions) {}

  /** The status from a look taken now (GET /gpumod/status). */
  async current(): Promise<GatewayStatus> {
    this.last = await this.opts.look(false);
    return this.opts.build(this.last);
  }

  subscribe(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    req.socket.setNoDelay(true);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.idle();
    });
    if (this.clients.size === 1) this.active();
    // The newcomer gets the whole picture at once; the others only hear of changes.
    if (this.last) this.write(res, 'status', this.opts.build(this.last));
    this.lookSoon();
  }

  /** What only the gateway knows changed (a request, a timer): told from the last look, no new one. */
  demandChanged(): void {
    if (this.last && this.clients.size > 0) this.publish(this.opts.build(this.last));
  }

  switchEvent(e: WakerEvent): void {
    for (const c of this.clients) this.write(c, 'switch', e);
    if (e.phase === 'end') this.lookSoon();
  }

  /** Looks again now (coalesced: one look under way, at most one more after it). */
  lookSoon(periodic = false): void {
    if (this.closed || this.clients.size === 0) return;
    if (this.looking) {
      this.again = true;
      return;
    }
    this.looking = this.opts
      .look(periodic)
      .then((l) => {
        this.last = l;
        this.publish(this.opts.build(l));
      })
      .catch((e: unknown) => this.opts.onError(e instanceof Error ? e.message : String(e)))
      .finally(() => {
        this.looking = undefined;
        if (this.again) {
          this.again = false;
          this.lookSoon();
        }
      });
  }

  private publish(status: GatewayStatus): void {
    const now = essence(status);
    if (now === this.sent) return;
    this.sent = now;
    for (const c of this.clients) this.write(c, 'status', status);
  }

  private write(res: ServerResponse, event: string, data: unknown): void {
    if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private active(): void {
    this.unfollow = this.opts.follow?.(this.opts.periodMs);
    this.timer = setInterval(() => this.lookSoon(true), this.opts.periodMs);
    this.keepAlive = setInterval(() => {
      for (const c of this.clients) if (!c.destroyed) c.write(': keep-alive\n\n');
    }, KEEPALIVE_MS);
    if (this.opts.stateDir) {
      try {
        this.watcher = watch(this.opts.stateDir, (_e, file) => file === 'state.json' && this.lookSoon());
        this.watcher.on('error', () => undefined);
      } catch {
        /* no state dir yet: the periodic look covers */
      }
    }
  }

  private idle(): void {
    this.unfollow?.();
    this.unfollow = undefined;
    if (this.timer) clearInterval(this.timer);
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.watcher?.close();
    this.watcher = undefined;
    this.sent = '';
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.idle();
  }
}
