// The user manager over D-Bus, for a long-lived machine (the extension, the gateway, the bench): one
// ListUnitsByNames answers every unit's load/active/sub state in ~3 ms, and systemd's change signals
// (after Manager.Subscribe) say which units' other properties may have changed since `systemctl show`
// last read them. A unit whose states are as shown then and which no signal named since is not shown
// again: an observation costs no process. Anything unexpected on the bus turns the watch off for a while,
// and `systemctl` answers as before; systemctl stays the only source of the properties' text.
import type { Message as MessageType, MessageBus } from 'dbus-next';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../engine/logger';
import { errorMessage } from '../errors';
import type { UnitStatus } from '../engine/machinePorts';
import type { Env } from './process';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const UNIT_PATHS = '/org/freedesktop/systemd1/unit/';
/** A bus call that takes longer than this means the bus is not worth its trouble now. */
const CALL_MS = 1000;
/** After a failure, the watch stays off this long (systemctl answers meanwhile). */
const RETRY_MS = 10_000;
/** The units (paths and names) whose last change is remembered; see `changed`. */
const CHANGED_KEYS_MAX = 4096;
/** Nothing asked for this long: the connection closes (a CLI run exits; an idle window holds nothing). */
const IDLE_MS = 60_000;

/** What ListUnitsByNames says of a unit now. */
export interface UnitStates {
  loadState: string;
  activeState: string;
  subState: string;
  /** The unit's object path: the signals name units by it. */
  path: string;
}

export interface UnitWatch {
  /** Connects and subscribes in the background (a caller about to look, like a new machine). */
  warm(): void;
  /** Every unit's states, now, in one call; undefined when the bus cannot answer yet (ask systemctl). */
  states(units: readonly string[]): Promise<Map<string, UnitStates> | undefined>;
  /** The status `systemctl show` gave when it still holds: same states now, no change signalled since. */
  cached(unit: string, now: UnitStates): UnitStatus | undefined;
  /** Taken before a `systemctl show`: its answers are kept only if no signal came in between. */
  mark(): number | undefined;
  remember(status: UnitStatus, now: UnitStates, mark: number | undefined): void;
  close(): void;
}

/** The session bus systemctl --user would reach: $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus. */
export function userBusAddress(env: Env): string | undefined {
  const get = (k: string): string | undefined => (k in env ? env[k] : process.env[k]);
  const given = get('DBUS_SESSION_BUS_ADDRESS');
  if (given) return given;
  const runtime = get('XDG_RUNTIME_DIR');
  return runtime && existsSync(join(runtime, 'bus')) ? `unix:path=${join(runtime, 'bus')}` : undefined;
}

type DBus = typeof import('dbus-next');
let dbusModule: DBus | undefined;
/** dbus-next, required on first use (dist/vendor/dbus-next.js: not compiled while a window starts). */
function dbus(): DBus {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports */
  dbusModule ??= require('dbus-next') as DBus;
  return dbusModule;
}

interface Entry {
  status: UnitStatus;
  path: string;
}

export function createUnitWatch(address: string, log: Logger): UnitWatch {
  let bus: MessageBus | undefined;
  let ready: Promise<boolean> | undefined;
  /** Subscribed: from now on, a change of any unit is signalled. */
  let subscribed = false;
  let offUntil = 0;
  /** Counts the signals; `changedAt` keeps, per unit path and per unit name, the count at its last one. */
  let clock = 0;
  let allChangedAt = 0;
  const changedAt = new Map<string, number>();
  let idle: NodeJS.Timeout | undefined;
  const entries = new Map<string, Entry>();

  const forget = (): void => {
    entries.clear();
    allChangedAt = ++clock;
  };
  const changed = (key: string): void => {
    // Every unit that changes is a key (a desktop makes scope units all day): past a bound, all are
    // taken as changed at once, which costs one more `show` of the units gpumod looks at.
    if (changedAt.size >= CHANGED_KEYS_MAX) {
      changedAt.clear();
      forget();
    }
    changedAt.set(key, ++clock);
    for (const [unit, e] of entries) if (e.path === key || unit === key) entries.delete(unit);
  };

  const shutDown = (why: string | undefined): void => {
    if (why !== undefined) {
      log.debug(`systemd bus: ${why}; systemctl answers for ${RETRY_MS / 1000} s`);
      offUntil = Date.now() + RETRY_MS;
    }
    const b = bus;
    bus = undefined;
    ready = undefined;
    subscribed = false;
    forget();
    if (idle) clearTimeout(idle);
    try {
      b?.disconnect();
    } catch {
      /* already gone */
    }
  };

  /** Settles (rejects) when the current connection breaks: a call waiting for its reply gives up then. */
  let broken: Promise<never> = new Promise(() => undefined);

  /** A method call's reply body, or a throw after CALL_MS or when the connection breaks. */
  const call = async (b: MessageBus, msg: ConstructorParameters<DBus['Message']>[0]): Promise<unknown[]> => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${msg.member} took more than ${CALL_MS} ms`)), CALL_MS);
    });
    try {
      const reply = await Promise.race([b.call(new (dbus().Message)(msg)), deadline, broken]);
      return (reply?.body ?? []) as unknown[];
    } finally {
      clearTimeout(timer);
    }
  };

  const onSignal = (msg: MessageType): void => {
    // 4 is SIGNAL: the only messages nobody asked for. The bus's own (NameAcquired) say nothing of units.
    if (msg.type !== 4) return;
    if (msg.sender === 'org.freedesktop.DBus') {
      if (msg.member === 'NameOwnerChanged' && msg.body[0] === SYSTEMD) shutDown('the manager left the bus');
      return;
    }
    const body = msg.body as unknown[];
    if (msg.path?.startsWith(UNIT_PATHS)) changed(msg.path);
    else if (msg.member === 'JobNew' || msg.member === 'JobRemoved') changed(String(body[2]));
    // A unit loaded to be looked at, and unloaded when unused: what it says comes from its file as
    // before (the properties' changes of a running unit come as PropertiesChanged on its path).
    else if (msg.member === 'UnitNew' || msg.member === 'UnitRemoved') return;
    // Reloading, unit files changed, start-up finished: anything may have changed.
    else forget();
  };

  const connect = async (): Promise<boolean> => {
    const b = dbus().sessionBus({ busAddress: address });
    bus = b;
    broken = new Promise<never>((_, reject) => b.once('error', reject));
    broken.catch(() => undefined);
    b.on('error', (e: unknown) => bus === b && shutDown(`connection error: ${errorMessage(e)}`));
    b.on('message', onSignal);
    const dbusCall = (member: string, rule: string): Promise<unknown[]> =>
      call(b, { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member, signature: 's', body: [rule] });
    await dbusCall('AddMatch', `type='signal',sender='${SYSTEMD}'`);
    await dbusCall('AddMatch', `type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${SYSTEMD}'`);
    await call(b, { destination: SYSTEMD, path: MANAGER_PATH, interface: `${SYSTEMD}.Manager`, member: 'Subscribe' });
    subscribed = bus === b;
    return subscribed;
  };

  const connected = (): Promise<boolean> => {
    if (Date.now() < offUntil) return Promise.resolve(false);
    ready ??= connect().catch((e: unknown) => {
      shutDown(`not usable (${errorMessage(e)})`);
      return false;
    });
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => shutDown(undefined), IDLE_MS);
    idle.unref();
    return ready;
  };

  return {
    warm: () => void connected(),

    async states(units) {
      // Not waited for: a look that would wait for the connection is quicker with systemctl.
      const ok = connected();
      if (!subscribed || !bus || !(await ok)) return undefined;
      const b = bus;
      try {
        const [rows] = await call(b, { destination: SYSTEMD, path: MANAGER_PATH, interface: `${SYSTEMD}.Manager`, member: 'ListUnitsByNames', signature: 'as', body: [units] });
        if (!Array.isArray(rows) || rows.length !== units.length) throw new Error(`ListUnitsByNames answered ${Array.isArray(rows) ? rows.length : 'no list'} for ${units.length} units`);
        // (name, description, load, active, sub, following, path, job id, job type, job path), in the order asked.
        return new Map(units.map((u, i) => {
          const r = rows[i] as unknown[];
          return [u, { loadState: String(r[2]), activeState: String(r[3]), subState: String(r[4]), path: String(r[6]) }];
        }));
      } catch (e) {
        // The manager's refusal of a name (a template without instance) is an answer: systemctl says
        // the rest. No answer at all (a timeout, a broken connection) is the bus failing.
        const refused = typeof (e as { type?: unknown } | undefined)?.type === 'string';
        if (!refused && bus === b) shutDown(`ListUnitsByNames failed (${errorMessage(e)})`);
        return undefined;
      }
    },

    cached(unit, now) {
      const e = entries.get(unit);
      if (!e || e.path !== now.path) return undefined;
      const s = e.status;
      return s.loadState === now.loadState && s.activeState === now.activeState && s.subState === now.subState ? s : undefined;
    },

    mark: () => (subscribed ? clock : undefined),

    remember(status, now, mark) {
      // Shown while a signal came in: it may predate the change, so it is not kept.
      if (mark === undefined || !subscribed) return;
      if (allChangedAt > mark || (changedAt.get(now.path) ?? 0) > mark || (changedAt.get(status.unit) ?? 0) > mark) return;
      if (status.loadState !== now.loadState || status.activeState !== now.activeState || status.subState !== now.subState) return;
      entries.set(status.unit, { status, path: now.path });
    },

    close: () => shutDown(undefined),
  };
}
