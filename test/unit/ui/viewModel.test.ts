import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/load';
import type { Config } from '../../../src/config/types';
import type { Observation, ServiceObservation } from '../../../src/engine/types';
import { demandText, serviceIcon, serviceItem, servicesTable, statusBarModel, vramSummary, type UiState } from '../../../src/ui/viewModel';

const parsed = parseConfig(readFileSync(join(process.cwd(), 'test/samples/workstation.yaml'), 'utf8'), 'w.yaml');
if (!parsed.ok) throw new Error('sample config invalid');
const config: Config = parsed.config;

function obs(states: Record<string, Partial<ServiceObservation>>, usedMb = 23100): Observation {
  const services = new Map<string, ServiceObservation>();
  for (const name of config.services.keys()) {
    services.set(name, { name, state: 'stopped', healthy: false, vramMb: 0, ...states[name] });
  }
  return {
    at: 0,
    services,
    gpu: { available: true, ms: 25, gpus: [{ index: 0, uuid: 'GPU-x', name: 'NVIDIA H100 80GB HBM3', totalMb: 81559, usedMb, freeMb: 81559 - usedMb, processes: [] }] },
    foreignMb: new Map(),
  };
}

const code = obs({
  'glm-code': { state: 'running', healthy: true, vramMb: 20000 },
  'vllm-embedding-code': { state: 'running', healthy: true, vramMb: 3000 },
  'vllm-chat': { state: 'sleeping', sleep: 'l1', healthy: true, vramMb: 1500 },
});

describe('status bar model', () => {
  it('shows the mode and VRAM in use, and switches on click', () => {
    const m = statusBarModel({ configState: 'ok', config, observation: code, mode: 'code', drift: [] }, 0);
    assert.equal(m.text, '$(circuit-board) code · 23.1/81.6 GB');
    assert.equal(m.command, 'gpumod.switchMode');
    assert.equal(m.warning, false);
  });

  it('spins with "from → to" while switching, with the click disabled', () => {
    const m = statusBarModel({ configState: 'ok', config, observation: code, mode: 'code', drift: [], switching: { from: 'code', to: 'rag', step: 'wake vllm-chat' } }, 0);
    assert.equal(m.text, '$(sync~spin) code → rag');
    assert.equal(m.command, undefined);
    assert.match(m.tooltip, /\*\*Switching\*\* code → rag: wake vllm-chat/);
  });

  it('warns on drift, on a failed service and after a failed switch', () => {
    const base: UiState = { configState: 'ok', config, observation: code, mode: undefined, drift: ['rag: vllm-hyde is stopped'] };
    assert.equal(statusBarModel(base, 0).warning, true);
    assert.equal(statusBarModel(base, 0).text, '$(circuit-board) no mode · 23.1/81.6 GB');
    const failed = obs({ 'vllm-tts': { state: 'failed', detail: 'exit-code 3' } });
    assert.equal(statusBarModel({ configState: 'ok', config, observation: failed, mode: 'blank', drift: [] }, 0).warning, true);
    assert.equal(statusBarModel({ configState: 'ok', config, observation: code, mode: 'code', drift: [], lastSwitch: { to: 'code', ok: false, totalMs: 1, at: 0, message: 'x' } }, 0).warning, true);
  });

  it('while the config is first read it spins, and a click waits for it to switch (never opens the file)', () => {
    const loading = statusBarModel({ configState: 'loading', drift: [] }, 0);
    assert.equal(loading.text, '$(loading~spin) gpumod');
    assert.match(loading.tooltip, /reading its configuration/);
    assert.equal(loading.command, 'gpumod.switchMode');
  });

  it('only a missing config opens the file from the status bar', () => {
    const missing = statusBarModel({ configState: 'missing', drift: [] }, 0);
    assert.equal(missing.command, 'gpumod.openConfiguration');
    assert.match(missing.tooltip, /No gpumod configuration yet/);
    const broken = statusBarModel({ configState: 'invalid', configProblems: 2, drift: [] }, 0);
    assert.equal(broken.warning, true);
    assert.equal(broken.command, 'gpumod.switchMode');
    assert.match(broken.tooltip, /gpumod\.yaml has 2 problems, and no valid configuration has been loaded yet/);
  });

  it('an edit that does not load keeps the mode and VRAM of the config in force, warns, counts the problems, still switches', () => {
    const ok: UiState = { configState: 'ok', config, observation: code, mode: 'code', drift: [] };
    const edited = statusBarModel({ ...ok, configState: 'invalid', configProblems: 1 }, 0);
    assert.equal(edited.text, statusBarModel(ok, 0).text);
    assert.equal(edited.command, 'gpumod.switchMode');
    assert.equal(edited.warning, true);
    assert.match(edited.tooltip, /^\$\(warning\) gpumod\.yaml has 1 problem: the last valid configuration stays in force\./);
    assert.match(edited.tooltip, /\| glm-code \| running \| 20\.0 GB \|/);
    assert.doesNotMatch(statusBarModel(ok, 0).tooltip, /problem/);
  });

  it('tooltip: a markdown table of services with state and VRAM, the GPU and the last switch', () => {
    const t = servicesTable({ configState: 'ok', config, observation: code, mode: 'code', drift: [], lastSwitch: { to: 'code', ok: true, totalMs: 1400, at: 0, message: '' } }, 90_000);
    assert.match(t, /\| glm-code \| running \| 20\.0 GB \|/);
    assert.match(t, /\| vllm-chat \| asleep L1 \| 1\.5 GB \|/);
    assert.match(t, /\| vllm-tts \| stopped \| – \|/);
    assert.match(t, /GPU: 23\.1\/81\.6 GB used/);
    assert.match(t, /Last switch: code, 1\.4 s, 2 min ago/);
    const answered = servicesTable({ configState: 'ok', config, observation: code, mode: 'code', drift: [], lastSwitch: { to: 'code', ok: true, totalMs: 1400, at: 0, message: '', firstAnswerMs: 1300 } }, 90_000);
    assert.match(answered, /Last switch: code, 1\.4 s \(first answer after 1\.3 s\), 2 min ago/);
  });

  it('does not show VRAM without a GPU', () => {
    assert.equal(vramSummary({ ...code, gpu: { available: false, reason: 'no NVIDIA GPU visible' } }), undefined);
    // Several cards: each one's figure, never a sum that hides the full one.
    const card = (index: number, usedMb: number) => ({ index, uuid: `GPU-${index}`, name: 'NVIDIA GeForce RTX 4090', totalMb: 24564, usedMb, freeMb: 24564 - usedMb, processes: [] });
    assert.equal(vramSummary({ ...code, gpu: { available: true, ms: 25, gpus: [card(0, 21300), card(1, 18000)] } }), '21.3/24.6 · 18.0/24.6 GB');
  });
});

describe('service rows', () => {
  it('describe state, VRAM held and port; icons tell states apart', () => {
    const chat = config.services.get('vllm-chat')!;
    const row = serviceItem(chat, code.services.get('vllm-chat'));
    assert.equal(row.description, 'asleep L1 · 1.5 GB · :7071');
    assert.equal(row.icon, 'debug-pause');
    assert.match(row.tooltip, /unit `vllm-chat.service` · driver vllm/);
    const icons = (['running', 'stopped', 'failed', 'starting', 'unknown'] as const).map((state) => serviceIcon({ name: 'x', state, healthy: true }).icon);
    assert.equal(new Set(icons).size, icons.length);
    assert.notEqual(serviceIcon({ name: 'x', state: 'sleeping', sleep: 'l1', healthy: true }).color, serviceIcon({ name: 'x', state: 'sleeping', sleep: 'l2', healthy: true }).color);
    assert.equal(serviceIcon({ name: 'x', state: 'running', healthy: false }).icon, 'warning');
  });

  it('mark declared figures as such; measured ones win; without a GPU the held figure says where it comes from', () => {
    const chat = config.services.get('vllm-chat')!;
    const asleep = code.services.get('vllm-chat');
    assert.match(serviceItem(chat, asleep).tooltip, /VRAM 7\.0 GB awake \(declared\), 1\.5 GB asleep \(l1, declared\)/);
    const measured = { vram: { awake: 9200 }, ram: {} };
    assert.match(serviceItem(chat, asleep, measured).tooltip, /VRAM 9\.2 GB awake \(measured\), 1\.5 GB asleep \(l1, declared\)/);
    const blind = { ...asleep!, vramMb: undefined };
    assert.equal(serviceItem(chat, blind).description, 'asleep L1 · 1.5 GB (declared) · :7071');
    assert.equal(serviceItem(chat, { ...blind, state: 'running', sleep: undefined }, measured).description, 'running · 9.2 GB (measured) · :7071');
  });
});

describe('viewModel: the gateway', () => {
  const gw = (services: Array<Record<string, unknown>>, running = true): UiState['gateway'] => ({
    url: 'http://127.0.0.1:7099/v1',
    running,
    services: new Map(services.map((s) => [s.name as string, { models: [], inFlight: 0, waking: false, ...s } as never])),
  });

  it('the tooltip shows the mode with its idle sleepers, each service\'s requests and idle timer, and the gateway', () => {
    const at = new Date(2026, 11, 2, 14, 5, 30).getTime();
    const state: UiState = {
      configState: 'ok',
      config,
      observation: code,
      mode: 'code',
      idle: ['vllm-chat'],
      drift: [],
      gateway: gw([{ name: 'glm-code', inFlight: 2 }, { name: 'vllm-embedding-code', idleSleepAt: at }]),
    };
    const tip = servicesTable(state, 0);
    assert.match(tip, /\*\*Mode\*\* code \(vllm-chat idle, asleep\)/);
    assert.match(tip, /\| glm-code \| running · 2 requests \|/);
    assert.match(tip, /\| vllm-embedding-code \| running · idle, sleeps at (14|02):05:30( PM)? \|/);
    assert.match(tip, /\| vllm-chat \| asleep L1 · idle: the next request wakes it \|/);
    assert.match(tip, /Gateway: http:\/\/127\.0\.0\.1:7099\/v1 \(running\)/);
    assert.equal(demandText('glm-code', { ...state, gateway: gw([{ name: 'glm-code', inFlight: 2 }], false) }), undefined, 'a gateway not running has nothing to add');
  });

  it('the services view line carries what the gateway adds', () => {
    const svc = config.services.get('glm-code')!;
    assert.match(serviceItem(svc, code.services.get('glm-code'), undefined, '1 request').description, /running · .* · 1 request · :\d+$/);
  });
});
