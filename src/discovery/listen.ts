import { canonicalHost, isLoopbackHost } from '../config/hosts';
import { portNumber } from './flags';
import type { Listen } from './servers';

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]', '*']);

/**
 * The socket from a bind address and port as written (undefined: the server's defaults). gpumod calls
 * loopback only, so a wildcard bind is reached on loopback and an address elsewhere is refused: vLLM's
 * sleep endpoints are unauthenticated, and reaching them off the machine needs the user's own opt-in.
 */
export function listenOn(
  bind: string | undefined,
  port: string | undefined,
  defaults: { bind: string; port: number },
): { ok: true; listen: Listen } | { ok: false; reason: string } {
  let portNo = defaults.port;
  if (port !== undefined) {
    const n = portNumber(port);
    if (n === undefined) {
      return { ok: false, reason: port.includes('$') ? `its port ${port} comes from a variable gpumod cannot see` : `its port "${port}" is not a port number` };
    }
    portNo = n;
  }
  const address = bind ?? defaults.bind;
  if (address.includes('$')) return { ok: false, reason: `its address ${address} comes from a variable gpumod cannot see` };
  if (address.startsWith('unix:') || address.startsWith('/') || address.endsWith('.sock')) {
    return { ok: false, reason: `it listens on a Unix socket (${address}): gpumod talks TCP` };
  }
  const listen = { port: portNo, portDefault: port === undefined, bind: address };
  if (WILDCARDS.has(address)) return { ok: true, listen: { ...listen, host: address.includes(':') ? '::1' : '127.0.0.1', exposed: true } };
  const host = canonicalHost(address);
  if (host !== undefined && isLoopbackHost(host)) return { ok: true, listen: { ...listen, host: host === 'localhost' || host === 'localhost.' ? '127.0.0.1' : host, exposed: false } };
  return {
    ok: false,
    reason: `it listens on ${address} only, not on loopback: gpumod calls servers on this machine's loopback (bind it to 127.0.0.1, or add it by hand with allowed_hosts)`,
  };
}

/** `--host H --port P` and `host:port` binds (gunicorn `-b`). */
export function splitBind(bind: string): { host?: string; port?: string } {
  const v6 = /^\[(.*)\]:(\d+)$/.exec(bind);
  if (v6) return { host: v6[1], port: v6[2] };
  const colon = bind.lastIndexOf(':');
  if (colon >= 0 && !bind.slice(0, colon).includes(':')) return { host: bind.slice(0, colon), port: bind.slice(colon + 1) };
  if (/^\d+$/.test(bind)) return { port: bind };
  return { host: bind };
}

/** CUDA_VISIBLE_DEVICES split into its entries (indices or GPU UUIDs); undefined when unset. */
export function visibleDevices(env: Readonly<Record<string, string>>): string[] | undefined {
  const v = env.CUDA_VISIBLE_DEVICES;
  if (v === undefined) return undefined;
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}
