// A minimal HTTP client for tests of the fakes (node:http, so no pooling surprises after "refuse").
import { request as httpRequest } from 'node:http';

export interface TestResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  ms: number;
}

/** Sends one request; rejects on connection errors (err.code ECONNREFUSED…) and after `timeoutMs`. */
export function http(method: string, url: string, body?: string, timeoutMs = 10000): Promise<TestResponse> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, ms: Date.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

export async function json(method: string, url: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; value: unknown; body: string }> {
  const res = await http(method, url, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), timeoutMs);
  let value: unknown;
  try {
    value = JSON.parse(res.body);
  } catch {
    value = undefined;
  }
  return { status: res.status, value, body: res.body };
}

/** Polls `probe` until it returns true, or fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 3000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
