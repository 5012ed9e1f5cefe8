import type { ServerCommand } from './commandLine';
import { Flags } from './flags';
import { listenOn, splitBind, visibleDevices } from './listen';
import type { HttpApp } from './servers';

const UVICORN_BOOLEANS = ['reload', 'proxy-headers', 'access-log', 'use-colors', 'factory', 'server-header', 'date-header', 'h11-max-incomplete-event-size'];
const FASTAPI_BOOLEANS = ['reload', 'proxy-headers'];
const GUNICORN_ALIASES: Record<string, string> = { '-b': 'bind', '-k': 'worker-class', '-w': 'workers', '-c': 'config' };
const GUNICORN_BOOLEANS = ['reload', 'daemon', 'preload', 'D'];

export type HttpAppReading = { ok: true; server: HttpApp; notes: string[] } | { ok: false; reason: string };

function workersOf(flags: Flags): number | undefined {
  const w = flags.get('workers');
  return w !== undefined && /^\d+$/.test(w) ? Number(w) : undefined;
}

/**
 * An HTTP app: `uvicorn MODULE:APP` (127.0.0.1:8000), `fastapi run|dev [FILE]` (run: 0.0.0.0,
 * dev: 127.0.0.1; port 8000) or `gunicorn … APP` (`-b`, 127.0.0.1:8000).
 */
export function readHttpApp(cmd: ServerCommand): HttpAppReading | undefined {
  const notes: string[] = [];
  const devices = visibleDevices(cmd.env);
  const done = (server: HttpApp): HttpAppReading => {
    if (devices) server.visibleDevices = devices;
    if ((server.workers ?? 1) > 1) notes.push(`${server.workers} workers: each loads its own copy of a model`);
    return { ok: true, server, notes };
  };
  if (cmd.program === 'uvicorn') {
    const flags = new Flags(cmd.args, { booleans: UVICORN_BOOLEANS });
    if (flags.has('uds') || flags.has('fd')) return { ok: false, reason: 'it listens on a Unix socket or an inherited descriptor: gpumod talks TCP' };
    const at = listenOn(flags.get('host'), flags.get('port'), { bind: '127.0.0.1', port: 8000 });
    if (!at.ok) return at;
    const app = flags.positional[0];
    return done({ kind: 'http-app', runner: 'uvicorn', ...(app ? { app } : {}), listen: at.listen, ...(workersOf(flags) ? { workers: workersOf(flags) } : {}) });
  }
  if (cmd.program === 'fastapi') {
    const sub = cmd.args[0];
    if (sub !== 'run' && sub !== 'dev') return { ok: false, reason: `runs "fastapi ${sub ?? ''}", not "fastapi run" or "fastapi dev"` };
    const flags = new Flags(cmd.args.slice(1), { booleans: FASTAPI_BOOLEANS });
    const at = listenOn(flags.get('host'), flags.get('port'), { bind: sub === 'run' ? '0.0.0.0' : '127.0.0.1', port: 8000 });
    if (!at.ok) return at;
    const app = flags.positional[0] ?? flags.get('entrypoint');
    return done({ kind: 'http-app', runner: 'fastapi', ...(app ? { app } : {}), listen: at.listen, ...(workersOf(flags) ? { workers: workersOf(flags) } : {}) });
  }
  if (cmd.program === 'gunicorn') {
    const flags = new Flags(cmd.args, { aliases: GUNICORN_ALIASES, booleans: GUNICORN_BOOLEANS });
    const binds = flags.all('bind');
    if (binds.length > 1) notes.push(`binds ${binds.join(', ')}: the first is used`);
    const b = binds[0] !== undefined ? splitBind(binds[0]) : {};
    if (binds[0]?.startsWith('unix:') || binds[0]?.startsWith('fd://')) return { ok: false, reason: `it listens on ${binds[0]}: gpumod talks TCP` };
    const at = listenOn(b.host === undefined ? undefined : b.host === '' ? '0.0.0.0' : b.host, b.port, { bind: '127.0.0.1', port: 8000 });
    if (!at.ok) return at;
    if (flags.has('config')) notes.push(`settings in ${flags.get('config')} are not read by gpumod: check the port`);
    const app = flags.positional[0];
    return done({ kind: 'http-app', runner: 'gunicorn', ...(app ? { app } : {}), listen: at.listen, ...(workersOf(flags) ? { workers: workersOf(flags) } : {}) });
  }
  return undefined;
}
