// Time to first token: a switch is done for the user when the incoming models answer. Right after a
// switch returns, each incoming service (one the switch woke, loaded or started) is sent what a user
// asks first (the profile's `firstRequest`: a one-token completion, a first embedding or rerank, a
// transcription), all at once; the transition's time to first token is the switch's wall time plus
// the wait for the slowest answer.
import type { ProfileService } from '../../demo/profile';
import { http } from '../fakes/lib/testHttp';
import type { BenchAction, BenchStep } from './_latency';

export interface FirstRequest {
  service: string;
  /** What the switch did to it. */
  action: BenchAction;
  depth?: BenchStep['depth'];
  /** The request alone. */
  requestMs: number;
  /** From the switch's start until the answer. */
  ttftMs: number;
}

/** Time enough for a cold first request on any profile; a hang is a failure, not a figure. */
const REQUEST_TIMEOUT_MS = 60000;

/** The services a run brought up, with what it did to each (its last acquisition). */
export function incoming(steps: BenchStep[]): BenchStep[] {
  const last = new Map<string, BenchStep>();
  for (const s of steps) if (s.action === 'wake' || s.action === 'load' || s.action === 'start') last.set(s.service, s);
  return [...last.values()];
}

/**
 * Sends each incoming service its first request at once. `wallMs` is the switch's wall time and
 * `endedAt` the performance.now() at which it returned. Throws when one answers other than 2xx: a
 * switch that left an incoming service unable to answer measured nothing.
 */
export async function firstRequests(services: ProfileService[], ports: Map<string, number>, steps: BenchStep[], wallMs: number, endedAt: number): Promise<FirstRequest[]> {
  return Promise.all(
    incoming(steps).map(async (step) => {
      const svc = services.find((s) => s.name === step.service);
      const port = ports.get(step.service);
      if (!svc || port === undefined) throw new Error(`${step.service} is not in the profile`);
      const req = svc.firstRequest;
      const t0 = performance.now();
      const res = await http(req.method, `http://127.0.0.1:${port}${req.path}`, req.body === undefined ? undefined : JSON.stringify(req.body), REQUEST_TIMEOUT_MS);
      const t1 = performance.now();
      if (res.status < 200 || res.status > 299) throw new Error(`${step.service}: first request ${req.method} ${req.path} answered ${res.status}: ${res.body.slice(0, 200)}`);
      return { service: step.service, action: step.action, depth: step.depth, requestMs: t1 - t0, ttftMs: wallMs + (t1 - endedAt) };
    }),
  );
}

/** The transition's time to first token: its slowest incoming service's (undefined when none came in). */
export function ttftOf(requests: FirstRequest[]): number | undefined {
  return requests.length ? Math.max(...requests.map((r) => r.ttftMs)) : undefined;
}
