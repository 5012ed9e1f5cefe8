import * as assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load';
import type { Config } from '../../../src/config/types';
import type { GpuInfo, GpuSnapshot } from '../../../src/engine/machinePorts';
import type { Observation, ServiceObservation } from '../../../src/engine/types';
import { cardGroups, cardRowModel } from '../../../src/ui/gpuRow';
import { cardNote, cardsLabel, serviceItem, servicesGrouping, severalCards, type UiState } from '../../../src/ui/viewModel';

function config(yaml: string): Config {
  const parsed = parseConfig(yaml, 'gpumod.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.config;
}

// Two 24 GB cards: a 70B model spread over both, a small model on each.
const twoCards = config(`services:
  big:   { driver: vllm, unit: big.service, port: 7071, vram_mb: 40000, gpus: [0, 1] }
  chat:  { driver: vllm, unit: chat.service, port: 7072, vram_mb: 6000 }
  embed: { driver: vllm, unit: embed.service, port: 7073, vram_mb: 3000, gpu: 1 }
modes:
  large: { services: [big] }
  small: { services: [chat, embed] }
`);
const oneCard = config(`services:
  chat:  { driver: vllm, unit: chat.service, port: 7072, vram_mb: 6000 }
  embed: { driver: vllm, unit: embed.service, port: 7073, vram_mb: 3000 }
modes:
  small: { services: [chat, embed] }
`);

const card = (index: number, usedMb: number): GpuInfo => ({ index, uuid: `GPU-${index}`, name: 'NVIDIA GeForce RTX 4090', totalMb: 24564, usedMb, freeMb: 24564 - usedMb, processes: [] });

function observe(cfg: Config, gpu: GpuSnapshot): Observation {
  const services = new Map<string, ServiceObservation>();
  for (const name of cfg.services.keys()) services.set(name, { name, state: 'stopped', healthy: false, vramMb: 0 });
  return { at: 0, services, gpu, foreignMb: new Map() };
}
const seen = (...cards: GpuInfo[]): GpuSnapshot => ({ available: true, ms: 25, gpus: cards });
const unseen: GpuSnapshot = { available: false, reason: 'no NVIDIA GPU visible: nvidia-smi not found' };

describe('the services view by card', () => {
  it('groups by card where the machine shows several, or the config places a service on another card than 0', () => {
    assert.equal(severalCards(oneCard, observe(oneCard, seen(card(0, 0)))), false);
    assert.equal(severalCards(oneCard, undefined), false);
    assert.equal(severalCards(oneCard, observe(oneCard, seen(card(0, 0), card(1, 0)))), true);
    assert.equal(severalCards(twoCards, undefined), true); // before the first look, and without nvidia-smi
    assert.equal(severalCards(twoCards, observe(twoCards, unseen)), true);
  });

  it('by card is the default on several cards; the toggle still groups by mode; one card stays flat', () => {
    const obs = observe(twoCards, seen(card(0, 21300), card(1, 18000)));
    assert.equal(servicesGrouping(twoCards, obs, false), 'card');
    assert.equal(servicesGrouping(twoCards, obs, true), 'mode');
    assert.equal(servicesGrouping(oneCard, observe(oneCard, seen(card(0, 0))), false), 'flat');
    assert.equal(servicesGrouping(oneCard, observe(oneCard, seen(card(0, 0))), true), 'mode');
  });

  it('lists each card with its services in config order; a spread service under each of its cards', () => {
    assert.deepEqual(cardGroups(twoCards, observe(twoCards, seen(card(0, 21300), card(1, 18000)))), [
      { index: 0, services: ['big', 'chat'] },
      { index: 1, services: ['big', 'embed'] },
    ]);
    // A card with nothing configured on it still has its row; one only the config names, too.
    assert.deepEqual(cardGroups(oneCard, observe(oneCard, seen(card(0, 0), card(1, 500)))), [
      { index: 0, services: ['chat', 'embed'] },
      { index: 1, services: [] },
    ]);
    assert.deepEqual(cardGroups(twoCards, observe(twoCards, seen(card(0, 0)))).map((g) => g.index), [0, 1]);
    assert.deepEqual(cardGroups(twoCards, undefined).map((g) => g.index), [0, 1]);
  });

  it("heads each group with the card's GPU row, or says why its figures are missing", () => {
    const state = (observation?: Observation): UiState => ({ configState: 'ok', config: twoCards, observation, drift: [] });
    const both = state(observe(twoCards, seen(card(0, 21300), card(1, 18000))));
    assert.deepEqual([0, 1].map((i) => `${cardRowModel(both, i).label} · ${cardRowModel(both, i).description}`), ['GPU 0 · 21.3/24.6 GB', 'GPU 1 · 18.0/24.6 GB']);
    const blind = cardRowModel(state(observe(twoCards, unseen)), 1);
    assert.equal(blind.description, 'not visible');
    assert.equal(blind.accessible, 'GPU 1 not visible: no NVIDIA GPU visible: nvidia-smi not found');
    const missing = cardRowModel(state(observe(twoCards, seen(card(0, 0)))), 1);
    assert.equal(missing.description, 'not seen');
    assert.match(missing.tooltip, /nvidia-smi shows no GPU 1, yet gpumod\.yaml places services on it/);
    assert.deepEqual(cardRowModel(state(), 1), { index: 1, label: 'GPU 1', description: '', tooltip: '', accessible: 'GPU 1' });
  });

  it("notes a spread service's cards under each card; every service's cards grouped by mode; nothing on one card", () => {
    const big = twoCards.services.get('big')!;
    const embed = twoCards.services.get('embed')!;
    assert.equal(cardsLabel(big.gpus), 'GPU 0+1');
    assert.equal(cardNote(big, 'card', true), 'GPU 0+1');
    assert.equal(cardNote(embed, 'card', true), undefined); // its card's row says it
    assert.equal(cardNote(embed, 'mode', true), 'GPU 1');
    assert.equal(cardNote(oneCard.services.get('chat')!, 'mode', false), undefined);
    assert.equal(cardNote(oneCard.services.get('chat')!, 'flat', false), undefined);
    const row = serviceItem(big, { name: 'big', state: 'running', healthy: true, vramMb: 40000 }, undefined, undefined, 'GPU 0+1');
    assert.equal(row.description, 'running · 40.0 GB · GPU 0+1 · :7071');
    assert.match(row.tooltip, /127\.0\.0\.1:7071 · GPU 0\+1/);
    // Without a note the row is as it always was.
    assert.equal(serviceItem(embed, { name: 'embed', state: 'running', healthy: true, vramMb: 3000 }).description, 'running · 3.0 GB · :7073');
  });
});
