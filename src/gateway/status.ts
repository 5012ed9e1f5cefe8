// What the gateway tells the editor (GET /gpumod/status, and each `status` event of /gpumod/events):
// the machine as it observed it, the mode that amounts to, and what only the gateway knows — requests
// in flight, idle timers, the models each service serves. The editor reads it instead of polling.
import { asMarker } from '../engine/records';
import type { SwitchInProgress } from '../engine/types';
import { fromWire, type ObservationWire } from '../engine/observationWire';
import type { Observation } from '../engine/types';
import type { DemandView } from './waker';

export interface GatewayServiceStatus extends DemandView {
  name: string;
  /** Model names requests may use for it (configured, then learnt from its server). */
  models: string[];
  /** Its idle_sleep_s (the gateway's default applied), when it has one. */
  idleSleepS?: number;
}

export interface GatewayStatus {
  url: string;
  pid: number;
  startedAt: number;
  tokenRequired: boolean;
  mode: string | null;
  /** The mode's services asleep for idleness. */
  idle: string[];
  drift: string[];
  /** A switch under way (anyone's), from the state file. */
  switching: SwitchInProgress | null;
  services: GatewayServiceStatus[];
  observation: ObservationWire;
}

/** A status as the editor holds it: the observation whole again. */
export interface GatewayView extends Omit<GatewayStatus, 'observation'> {
  observation: Observation;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const optNum = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v));

function serviceStatus(v: unknown): GatewayServiceStatus | undefined {
  if (!isObj(v) || typeof v.name !== 'string' || typeof v.inFlight !== 'number' || typeof v.waking !== 'boolean' || !strings(v.models)) return undefined;
  if (!optNum(v.lastRequestAt) || !optNum(v.idleSleepAt) || !optNum(v.idleSleepS)) return undefined;
  return v as unknown as GatewayServiceStatus;
}

/** The state file's in-progress marker as the status carries it: null, or the marker state.json would accept. */
function marker(v: unknown): SwitchInProgress | null | undefined {
  return v === null ? null : asMarker(v);
}

/** A status read from the socket, or undefined when its shape is not the gateway's (another program on the port). */
export function parseGatewayStatus(v: unknown): GatewayView | undefined {
  if (!isObj(v) || typeof v.url !== 'string' || typeof v.pid !== 'number' || typeof v.startedAt !== 'number' || typeof v.tokenRequired !== 'boolean') return undefined;
  if (!(v.mode === null || typeof v.mode === 'string') || !strings(v.idle) || !strings(v.drift) || !Array.isArray(v.services)) return undefined;
  const services = v.services.map(serviceStatus);
  const switching = marker(v.switching);
  const observation = fromWire(v.observation);
  if (services.some((s) => s === undefined) || switching === undefined || !observation) return undefined;
  return {
    url: v.url,
    pid: v.pid,
    startedAt: v.startedAt,
    tokenRequired: v.tokenRequired,
    mode: v.mode,
    idle: v.idle,
    drift: v.drift,
    switching,
    services: services as GatewayServiceStatus[],
    observation,
  };
}
