// Follows a running gateway's /gpumod/events: while connected, the window renders the gateway's
// observations instead of polling. When the gateway is not there (not installed, restarting), it
// tries again now and then: a refused loopback connection costs nothing worth counting.
import { request, type ClientRequest } from 'node:http';
import { parseGatewayStatus, type GatewayView } from '../gateway/status';

export interface FollowerEvents {
  onStatus(status: GatewayView): void;
  /** The connection ended or never came: polling takes over. */
  onDown(why: string): void;
}

const RETRY_FIRST_MS = 2000;
const RETRY_MAX_MS = 30_000;
/** A status event is a few kB; a stream that sends far more without a break is not the gateway's. */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** Splits a server-sent event stream into (event, data) pairs; comments and `retry:` lines are skipped. */
export class SseParser {
  private buffer = '';

  constructor(private readonly onEvent: (event: string, data: string) => void) {}

  /** False when an event grows past the bound: the caller drops the connection. */
  push(chunk: string): boolean {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) this.onEvent(event, data.join('\n'));
    }
    return this.buffer.length <= MAX_EVENT_BYTES;
  }
}

export class GatewayFollower {
  private req: ClientRequest | undefined;
  private retry: NodeJS.Timeout | undefined;
  private delay = RETRY_FIRST_MS;
  private active = false;
  private up = false;

  constructor(
    private readonly port: number,
    private readonly token: string | undefined,
    private readonly events: FollowerEvents,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  /** Follows while `on` (a focused window); a window in the background lets go, as its polling pauses. */
  setActive(on: boolean): void {
    if (on === this.active) return;
    this.active = on;
    if (on) {
      this.delay = RETRY_FIRST_MS;
      this.connect();
    } else {
      this.disconnect();
    }
  }

  private connect(): void {
    if (!this.active || this.req) return;
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const req = request({ host: '127.0.0.1', port: this.port, path: '/gpumod/events', headers }, (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        res.resume();
        return this.lost(req, `the gateway answered ${res.statusCode ?? '?'}`);
      }
      res.setEncoding('utf8');
      const parser = new SseParser((event, data) => {
        if (event !== 'status') return;
        let status: GatewayView | undefined;
        try {
          status = parseGatewayStatus(JSON.parse(data));
        } catch {
          status = undefined;
        }
        if (!status) return this.lost(req, `what answers on 127.0.0.1:${this.port} is not a gpumod gateway`);
        this.up = true;
        this.delay = RETRY_FIRST_MS;
        this.events.onStatus(status);
      });
      res.on('data', (chunk: string) => {
        if (!parser.push(chunk)) this.lost(req, 'the event stream sent an event too large');
      });
      res.on('end', () => this.lost(req, 'the gateway closed the stream'));
      res.on('error', () => this.lost(req, 'the event stream broke'));
    });
    req.on('error', (e) => this.lost(req, e.message));
    req.end();
    this.req = req;
  }

  private lost(req: ClientRequest, why: string): void {
    if (this.req !== req) return;
    this.req = undefined;
    req.destroy();
    const was = this.up;
    this.up = false;
    if (was || this.delay === RETRY_FIRST_MS) this.events.onDown(why);
    if (!this.active) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect();
    }, this.delay);
    this.retry.unref();
    this.delay = Math.min(RETRY_MAX_MS, this.delay * 2);
  }

  private disconnect(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const req = this.req;
    this.req = undefined;
    req?.destroy();
    if (this.up) {
      this.up = false;
      this.events.onDown('the window is in the background');
    }
  }

  dispose(): void {
    this.active = false;
    this.disconnect();
  }
}
