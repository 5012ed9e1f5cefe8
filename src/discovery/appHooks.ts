/**
 * The load/unload endpoints of a FastAPI-style app, for `driver: http` hooks: read from the app's
 * OpenAPI document (FastAPI serves /openapi.json), else from side-effect-free looks (a GET on a
 * POST-only route answers 405, so the route exists). Never a POST: that would load or unload.
 */

export interface AppHooks {
  sleep: string;
  wake: string;
  probe: string;
}

export interface AppEndpoints {
  hooks?: AppHooks;
  /** A GET path that answers 2xx while the app runs. */
  health?: string;
  /** Where the answer came from, for the proposal's comment. */
  from: 'openapi' | 'probes';
}

const SLEEP = /^(unload|sleep|offload|release|free)([_-]?model)?$/i;
const WAKE = /^(load|wake|wake[_-]?up|reload)([_-]?model)?$/i;
const PROBE = /^(status|state|is[_-]?sleeping|loaded|model[_-]?status)$/i;
const HEALTH = /^(health|healthz|ping|ready|readyz|livez)$/i;
/** A path gpumod's config accepts (the schema's pattern for hook paths). */
const SAFE_PATH = /^\/[A-Za-z0-9/_.?=&-]{0,199}$/;

const last = (path: string): string => path.split('/').filter(Boolean).pop() ?? '';
const dir = (path: string): string => path.slice(0, path.lastIndexOf('/'));

/** The routes of an OpenAPI document, as `METHOD /path` pairs; undefined when it is not one. */
export function openApiRoutes(doc: unknown): { method: string; path: string }[] | undefined {
  const paths = (doc as { paths?: unknown } | null)?.paths;
  if (typeof (doc as { openapi?: unknown } | null)?.openapi !== 'string' || typeof paths !== 'object' || paths === null || Array.isArray(paths)) return undefined;
  const out: { method: string; path: string }[] = [];
  for (const [path, ops] of Object.entries(paths as Record<string, unknown>)) {
    if (!SAFE_PATH.test(path) || typeof ops !== 'object' || ops === null) continue;
    for (const method of Object.keys(ops)) {
      const m = method.toUpperCase();
      if (m === 'GET' || m === 'POST' || m === 'PUT' || m === 'DELETE') out.push({ method: m, path });
    }
  }
  return out;
}

/**
 * Sleep, wake and probe routes that belong together (the same folder: `/model/unload`, `/model/load`,
 * `/model/status`), and a health route. Hooks only when all three are there.
 */
export function hooksFromRoutes(routes: readonly { method: string; path: string }[]): Omit<AppEndpoints, 'from'> {
  const pick = (method: string, re: RegExp): string[] => routes.filter((r) => (r.method === method || (method === 'POST' && r.method === 'PUT')) && re.test(last(r.path))).map((r) => `${r.method} ${r.path}`);
  const sleeps = pick('POST', SLEEP);
  const wakes = pick('POST', WAKE);
  const probes = pick('GET', PROBE);
  const health = routes.find((r) => r.method === 'GET' && HEALTH.test(last(r.path)))?.path;
  let hooks: AppHooks | undefined;
  for (const sleep of sleeps) {
    const d = dir(sleep.split(' ')[1]);
    const wake = wakes.find((w) => dir(w.split(' ')[1]) === d) ?? wakes[0];
    const probe = probes.find((p) => dir(p.split(' ')[1]) === d) ?? probes[0];
    if (wake && probe) {
      hooks = { sleep, wake, probe };
      break;
    }
  }
  return { ...(hooks ? { hooks } : {}), ...(health ? { health } : {}) };
}

/** What the looks at a running app without an OpenAPI document found. */
export interface AppLooks {
  /** GET path → status (and whether its JSON body tells a hook state). */
  gets: ReadonlyMap<string, { status: number; tellsState: boolean }>;
}

/** Paths looked at with GET when there is no OpenAPI document. */
export const LOOK_PATHS = ['/health', '/healthz', '/status', '/state', '/unload', '/load', '/sleep', '/wake_up'];

export function hooksFromLooks(looks: AppLooks): Omit<AppEndpoints, 'from'> {
  const seen = (path: string, status: number): boolean => looks.gets.get(path)?.status === status;
  const ok = (path: string): boolean => {
    const s = looks.gets.get(path)?.status;
    return s !== undefined && s >= 200 && s < 300;
  };
  const health = ['/health', '/healthz', '/status'].find(ok);
  const probe = ['/status', '/state'].find((p) => ok(p) && looks.gets.get(p)?.tellsState);
  // A GET on a POST-only route answers 405 Method Not Allowed: the route is there.
  const sleep = ['/unload', '/sleep'].find((p) => seen(p, 405));
  const wake = ['/load', '/wake_up'].find((p) => seen(p, 405));
  const hooks = probe && sleep && wake ? { sleep: `POST ${sleep}`, wake: `POST ${wake}`, probe: `GET ${probe}` } : undefined;
  return { ...(hooks ? { hooks } : {}), ...(health ? { health } : {}) };
}
