import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Whether a listener could bind `port` on 127.0.0.1 just now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * The first port of a run of `count` free loopback ports, so the demo and the tests never collide
 * with the user's own servers (or each other's). Found free, not reserved: taken by whoever binds first.
 */
export async function freePortBase(count: number): Promise<number> {
  // Below the kernel's ephemeral range: a port free now but in that range can be taken by any
  // outgoing connection's local end (the tests make thousands) before the fake that needs it binds.
  const top = Math.max(ephemeralLow() - count, 21000 + count);
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 21000 + Math.floor(Math.random() * (top - 21000));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found on 127.0.0.1`);
}

/** The first port Linux gives outgoing connections (net.ipv4.ip_local_port_range), 32768 by default. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 32768;
  } catch {
    return 32768;
  }
}
