// Host names as gpumod compares them: the config's `host` and `allowed_hosts`, and the HTTP client's
// loopback check, must agree on one reading, the one the URL parser (hence the request) uses.
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * The host as a request URL carries it: brackets off, lower case, IPv6 compressed. Undefined when no
 * URL can carry it, or when the URL parser would read it as another address (`127.999.999.999`,
 * `127.1`, `0x7f.1`): a config names hosts exactly.
 */
export function canonicalHost(host: string): string | undefined {
  const bracketed = /^\[.*\]$/.test(host);
  const bare = (bracketed ? host.slice(1, -1) : host).toLowerCase();
  if (bare === '') return undefined;
  if (bracketed || bare.includes(':')) {
    if (isIP(bare) !== 6) return undefined;
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  }
  if (/^[0-9.]+$/.test(bare)) return isIP(bare) === 4 ? bare : undefined;
  let parsed: string;
  try {
    parsed = new URL(`http://${bare}/`).hostname;
  } catch {
    return undefined;
  }
  return parsed === bare ? bare : undefined;
}

export function isLoopbackHost(host: string): boolean {
  const h = canonicalHost(host);
  if (h === undefined) return false;
  if (h === 'localhost' || h === 'localhost.') return true;
  const family = isIP(h);
  // BlockList matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 subnet as well.
  return family === 4 ? LOOPBACK.check(h, 'ipv4') : family === 6 ? LOOPBACK.check(h, 'ipv6') : false;
}

/** Whether `host` is loopback or one of `allowed` (compared in canonical form). */
export function isAllowedHost(host: string, allowed: readonly string[]): boolean {
  if (isLoopbackHost(host)) return true;
  const h = canonicalHost(host);
  return h !== undefined && allowed.some((a) => canonicalHost(a) === h);
}

/** The socket a service listens on, for telling which services share one: `localhost` is 127.0.0.1. */
export function endpointKey(host: string, port: number): string {
  const h = canonicalHost(host) ?? host.toLowerCase();
  return `${h === 'localhost' || h === 'localhost.' ? '127.0.0.1' : h}|${port}`;
}
