import * as assert from 'node:assert/strict';
import type { Probe } from '../../../src/engine/driverPort';
import { classify, type Classification } from '../../../src/engine/classify';
import type { UnitStatus } from '../../../src/engine/machinePorts';

function unit(activeState: string, subState = 'running', extra: Partial<UnitStatus> = {}): UnitStatus {
  return {
    unit: 'x.service',
    loadState: 'loaded',
    activeState,
    subState,
    mainPid: activeState === 'active' ? 42 : 0,
    result: 'success',
    execMainStatus: 0,
    controlGroup: '/user.slice/x.service',
    nRestarts: 0,
    stateChangeUs: 0,
    ...extra,
  };
}

const probe = (p: Partial<Probe> & Pick<Probe, 'state'>): Probe => ({ healthy: false, ...p });

const TABLE: [string, UnitStatus, Probe | undefined, Partial<Classification>][] = [
  ['inactive/dead → stopped', unit('inactive', 'dead'), undefined, { state: 'stopped', healthy: false, detail: undefined }],
  ['inactive after a failed run keeps the reason', unit('inactive', 'dead', { result: 'exit-code', execMainStatus: 2 }), undefined, { state: 'stopped', detail: 'last run ended: exit-code, exit status 2' }],
  ['failed → failed with Result and ExecMainStatus', unit('failed', 'failed', { result: 'exit-code', execMainStatus: 3 }), undefined, { state: 'failed', detail: 'unit failed: exit-code, exit status 3' }],
  ['failed by signal', unit('failed', 'failed', { result: 'signal' }), undefined, { state: 'failed', detail: 'unit failed: signal' }],
  ['activating → starting', unit('activating', 'start'), undefined, { state: 'starting' }],
  ['auto-restart says so', unit('activating', 'auto-restart', { nRestarts: 4 }), undefined, { state: 'starting', detail: 'restarting after a failure (4 restarts)' }],
  ['deactivating → stopping', unit('deactivating', 'stop-sigterm'), undefined, { state: 'stopping' }],
  ['active + port down → starting', unit('active'), probe({ state: 'down' }), { state: 'starting', detail: 'port not answering yet' }],
  ['active + asleep L1 → sleeping(l1), healthy', unit('active'), probe({ state: 'asleep', sleep: 'l1', healthy: true }), { state: 'sleeping', sleep: 'l1', healthy: true }],
  ['active + asleep L2', unit('active'), probe({ state: 'asleep', sleep: 'l2', healthy: true }), { state: 'sleeping', sleep: 'l2' }],
  ['active + router without model → sleeping(router)', unit('active'), probe({ state: 'asleep', sleep: 'router', healthy: true }), { state: 'sleeping', sleep: 'router' }],
  ['active + awake + healthy → running', unit('active'), probe({ state: 'awake', healthy: true }), { state: 'running', healthy: true }],
  ['active + awake + unhealthy → running, not healthy', unit('active'), probe({ state: 'awake', healthy: false }), { state: 'running', healthy: false, detail: 'health check failing' }],
  ['active + loading with health → waking', unit('active'), probe({ state: 'loading', healthy: true }), { state: 'waking' }],
  ['active + loading from a depth → waking', unit('active'), probe({ state: 'loading', sleep: 'l2' }), { state: 'waking', sleep: 'l2' }],
  ['active + loading without health → starting', unit('active'), probe({ state: 'loading' }), { state: 'starting' }],
  ['active + failed load → failed', unit('active'), probe({ state: 'failed', detail: 'model failed to load (exit 1)' }), { state: 'failed', detail: 'model failed to load (exit 1)' }],
  ['active + protocol error → unknown', unit('active'), probe({ state: 'error', detail: '/is_sleeping answered 404' }), { state: 'unknown', detail: '/is_sleeping answered 404' }],
  ['reloading counts as active', unit('reloading', 'reload'), probe({ state: 'awake', healthy: true }), { state: 'running' }],
  ['not-found unit → unknown', unit('inactive', 'dead', { loadState: 'not-found' }), undefined, { state: 'unknown', detail: 'unit x.service not found' }],
  ['masked unit → unknown', unit('inactive', 'dead', { loadState: 'masked' }), undefined, { state: 'unknown', detail: 'unit x.service is masked' }],
  ['maintenance → unknown', unit('maintenance', 'maintenance'), undefined, { state: 'unknown' }],
];

describe('classify', () => {
  for (const [name, u, p, want] of TABLE) {
    it(name, () => {
      const got = classify(u, p);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof Classification], v, `${k} of ${JSON.stringify(got)}`);
    });
  }

  it('never reports a sleeping server as unhealthy-running (sleep state wins over health)', () => {
    // vLLM's /health stays 200 while asleep; the driver reports asleep first.
    const got = classify(unit('active'), probe({ state: 'asleep', sleep: 'l1', healthy: true }));
    assert.equal(got.state, 'sleeping');
  });
});
