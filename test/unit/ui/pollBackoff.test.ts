import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/load';
import type { Observation, ServiceObservation } from '../../../src/engine/types';
import { BACKOFF_AFTER, IdleBackoff, MAX_BACKOFF_FACTOR } from '../../../src/ui/pollBackoff';
import type { UiState } from '../../../src/ui/viewModel';

const parsed = parseConfig(readFileSync(join(process.cwd(), 'test/samples/workstation.yaml'), 'utf8'), 'w.yaml');
if (!parsed.ok) throw new Error('sample config invalid');
const config = parsed.config;

function state(usedMb: number, chat: ServiceObservation['state'] = 'running', extra: Partial<UiState> = {}): UiState {
  const services = new Map<string, ServiceObservation>();
  for (const name of config.services.keys()) services.set(name, { name, state: name === 'vllm-chat' ? chat : 'stopped', healthy: true, vramMb: 0 });
  const observation: Observation = {
    at: 0,
    services,
    gpu: { available: true, ms: 25, gpus: [{ index: 0, uuid: 'GPU-x', name: 'H100', totalMb: 81559, usedMb, freeMb: 81559 - usedMb, processes: [] }] },
    foreignMb: new Map(),
  };
  return { configState: 'ok', config, observation, mode: 'code', drift: [], ...extra };
}

describe('idle polling backoff', () => {
  it(`keeps the interval for ${BACKOFF_AFTER} unchanged looks, then doubles it up to ${MAX_BACKOFF_FACTOR}x`, () => {
    const b = new IdleBackoff();
    const factors: number[] = [];
    for (let i = 0; i < 8; i++) {
      b.seen(state(23100));
      factors.push(b.factor());
    }
    assert.deepEqual(factors, [1, 1, 1, 2, 4, 4, 4, 4]);
  });

  it('a change in what the window shows (a service, the VRAM it shows) brings the base interval back', () => {
    const b = new IdleBackoff();
    for (let i = 0; i < 6; i++) b.seen(state(23100));
    assert.equal(b.factor(), MAX_BACKOFF_FACTOR);
    b.seen(state(23100, 'sleeping'));
    assert.equal(b.factor(), 1);
    for (let i = 0; i < 6; i++) b.seen(state(23100, 'sleeping'));
    b.seen(state(25200, 'sleeping'));
    assert.equal(b.factor(), 1, 'the status bar shows 25.2 instead of 23.1 GB');
  });

  it('memory moving below what the status bar shows, or the clock moving on, is no change', () => {
    const b = new IdleBackoff();
    const lastSwitch = { to: 'code', ok: true, totalMs: 900, at: 1_000_000, message: 'ok' };
    for (let i = 0; i < 6; i++) b.seen(state(23100 + i * 5, 'running', { lastSwitch }));
    assert.equal(b.factor(), MAX_BACKOFF_FACTOR);
  });

  it('a look someone asked for resets it', () => {
    const b = new IdleBackoff();
    for (let i = 0; i < 6; i++) b.seen(state(23100));
    b.reset();
    assert.equal(b.factor(), 1);
    b.seen(state(23100));
    assert.equal(b.factor(), 1);
  });
});
