import * as assert from 'node:assert/strict';
import { checkService, devicesFacts, type ServiceFacts } from '../../../src/cli/doctorCommand';
import { checkVisibleDevices, resolveDevices, type Card, type DevicesFacts } from '../../../src/cli/visibleDevicesCheck';
import { parseConfig } from '../../../src/config/load';
import type { ServiceConfig } from '../../../src/config/types';
import type { UnitStatus } from '../../../src/engine/machinePorts';

const CARDS: Card[] = [
  { index: 0, uuid: 'GPU-0a1b2c3d-0000-1111-2222-333344445555', name: 'NVIDIA GeForce RTX 4090' },
  { index: 1, uuid: 'GPU-9f8e7d6c-0000-1111-2222-333344445555', name: 'NVIDIA GeForce RTX 4090' },
];
const MIXED: Card[] = [CARDS[0], { ...CARDS[1], name: 'NVIDIA GeForce RTX 3090' }];

const svc = (gpus: number[]): Pick<ServiceConfig, 'name' | 'unit' | 'gpus'> => ({ name: 'big', unit: 'vllm-big.service', gpus });
const set = (value: string, more: Partial<DevicesFacts> = {}): DevicesFacts => ({ setting: { value, from: 'environment' }, cards: CARDS, ...more });
const outcome = (gpus: number[], facts: DevicesFacts): string[] => checkVisibleDevices(svc(gpus), facts).map((f) => `${f.check}:${f.ok ? 'ok' : f.severity}`);

describe('doctor: CUDA_VISIBLE_DEVICES against the cards of gpumod.yaml', () => {
  it('resolves indices and GPU UUIDs (or a unique prefix) to cards, stopping at the first that is none, as CUDA does', () => {
    assert.deepEqual(resolveDevices(['1', '0'], CARDS), { kind: 'cards', cards: [1, 0] });
    assert.deepEqual(resolveDevices(['GPU-9f8e7d6c-0000-1111-2222-333344445555', 'gpu-0a1b'], CARDS), { kind: 'cards', cards: [1, 0] });
    assert.deepEqual(resolveDevices(['0', '7', '1'], CARDS), { kind: 'invalid', entry: '7', cards: [0] });
    assert.deepEqual(resolveDevices(['GPU-', '1'], CARDS), { kind: 'invalid', entry: 'GPU-', cards: [] }); // matches both: ambiguous
    assert.deepEqual(resolveDevices(['-1'], CARDS), { kind: 'invalid', entry: '-1', cards: [] });
    // Without nvidia-smi indices are taken as written and UUIDs cannot be matched.
    assert.deepEqual(resolveDevices(['3'], undefined), { kind: 'cards', cards: [3] });
    assert.deepEqual(resolveDevices(['GPU-0a1b'], undefined), { kind: 'unknown', entry: 'GPU-0a1b' });
    assert.deepEqual(resolveDevices(['MIG-12ab'], CARDS), { kind: 'unknown', entry: 'MIG-12ab' });
  });

  it('passes a unit that names the same cards, in any order or by UUID', () => {
    assert.deepEqual(outcome([0, 1], set('0,1')), ['gpus:ok']);
    assert.deepEqual(outcome([0, 1], set('1, 0')), ['gpus:ok']);
    const byUuid = checkVisibleDevices(svc([1]), set('GPU-9f8e7d6c'));
    assert.deepEqual(byUuid.map((f) => f.ok), [true]);
    assert.equal(byUuid[0].message, 'CUDA_VISIBLE_DEVICES=GPU-9f8e7d6c = GPU 1 (in Environment=), as gpumod.yaml says');
  });

  it('says nothing of an unpinned one-card service on GPU 0: the one-card machine as it always was', () => {
    assert.deepEqual(checkVisibleDevices(svc([0]), { cards: CARDS }), []);
    assert.deepEqual(checkVisibleDevices(svc([0]), {}), []);
  });

  it('warns that an unpinned service on another card, or on several, lets the server choose its own', () => {
    const [f] = checkVisibleDevices(svc([0, 1]), { cards: CARDS });
    assert.equal(f.severity, 'warning');
    assert.equal(f.message, 'vllm-big.service does not set CUDA_VISIBLE_DEVICES: the server sees every card and chooses its own (vLLM and llama.cpp start at GPU 0), but gpumod.yaml plans it on GPUs 0, 1');
    assert.equal(f.fix, 'add Environment=CUDA_VISIBLE_DEVICES=0,1 under [Service] (systemctl --user edit --full vllm-big.service), then systemctl --user restart vllm-big.service');
    const [one] = checkVisibleDevices(svc([1]), { hidden: '/etc/big.env could not be read' });
    assert.match(one.message, /^vllm-big\.service does not set CUDA_VISIBLE_DEVICES \(\/etc\/big\.env could not be read\): .* on GPU 1$/);
    assert.match(one.fix ?? '', /Environment=CUDA_VISIBLE_DEVICES=1 /);
  });

  it('fails a unit that names other cards, with both fixes', () => {
    const [f] = checkVisibleDevices(svc([0, 1]), set('1'));
    assert.equal(f.severity, 'error');
    assert.equal(f.message, 'vllm-big.service sets CUDA_VISIBLE_DEVICES=1 (in Environment=), so the server runs on GPU 1, but gpumod.yaml plans it on GPUs 0, 1: gpumod would budget the wrong cards');
    assert.equal(f.fix, 'make them agree: Environment=CUDA_VISIBLE_DEVICES=0,1 in vllm-big.service (systemctl --user edit --full vllm-big.service, then systemctl --user restart vllm-big.service), or `gpu: 1` for big in gpumod.yaml');
    // Where it is set is where to change it: a new Environment= would lose to the EnvironmentFile=.
    const [file] = checkVisibleDevices(svc([1]), { setting: { value: '0', from: 'environment-file' }, cards: CARDS });
    assert.equal(file.fix, 'make them agree: CUDA_VISIBLE_DEVICES=1 in an EnvironmentFile= of vllm-big.service (then systemctl --user restart vllm-big.service), or `gpu: 0` for big in gpumod.yaml');
    const [g] = checkVisibleDevices(svc([0]), set('1,0'));
    assert.match(g.fix ?? '', /or `gpus: \[0, 1\]` for big in gpumod\.yaml$/);
  });

  it('fails an entry that is no card, and a setting that hides every card', () => {
    const [bad] = checkVisibleDevices(svc([0, 1]), set('0,2,1'));
    assert.equal(bad.severity, 'error');
    assert.match(bad.message, /2 is no card \(nvidia-smi shows GPUs 0, 1\); CUDA ignores it and every entry after it, so the server sees GPU 0, but gpumod\.yaml plans it on GPUs 0, 1$/);
    assert.deepEqual(outcome([0, 1], set('0,1,junk')), ['gpus:warning']); // harmless, but not what it means
    assert.deepEqual(outcome([0], set('')), ['gpus:error']);
    assert.match(checkVisibleDevices(svc([0]), set('')).at(0)?.message ?? '', /the server sees no GPU/);
    assert.deepEqual(outcome([0], set('-1')), ['gpus:error']);
  });

  it('cannot compare UUIDs without nvidia-smi: a warning that says so', () => {
    const [f] = checkVisibleDevices(svc([1]), set('GPU-9f8e7d6c', { cards: undefined }));
    assert.equal(f.severity, 'warning');
    assert.match(f.message, /GPU-9f8e7d6c cannot be matched to a card \(nvidia-smi shows no cards\), so it is not compared with gpumod\.yaml's GPU 1/);
    assert.deepEqual(outcome([3], set('3', { cards: undefined })), ['gpus:ok']);
  });

  it('warns that indices on mixed cards count in CUDA order unless CUDA_DEVICE_ORDER=PCI_BUS_ID', () => {
    assert.deepEqual(outcome([1], set('1', { cards: MIXED })), ['gpus:ok', 'device-order:warning']);
    assert.deepEqual(outcome([1], set('1', { cards: MIXED, deviceOrder: 'PCI_BUS_ID' })), ['gpus:ok']);
    assert.deepEqual(outcome([1], set('GPU-9f8e', { cards: MIXED })), ['gpus:ok']);
    assert.deepEqual(outcome([1], set('1')), ['gpus:ok']);
  });
});

describe('doctor: where a unit sets CUDA_VISIBLE_DEVICES', () => {
  const base = { envFileVars: new Map<string, string>(), unreadableEnvFiles: [] as string[] };
  it('ExecStart over EnvironmentFile= over Environment=, as systemd applies them', () => {
    const text = '[Service]\nEnvironment=CUDA_VISIBLE_DEVICES=0 CUDA_DEVICE_ORDER=PCI_BUS_ID\nExecStart=/opt/vllm serve m\n';
    assert.deepEqual(devicesFacts(text, base), { setting: { value: '0', from: 'environment' }, deviceOrder: 'PCI_BUS_ID' });
    const file = { ...base, envFileVars: new Map([['CUDA_VISIBLE_DEVICES', '0,1']]) };
    assert.deepEqual(devicesFacts(text, file).setting, { value: '0,1', from: 'environment-file' });
    const exec = "[Service]\nEnvironment=CUDA_VISIBLE_DEVICES=0\nExecStart=/bin/sh -c 'CUDA_VISIBLE_DEVICES=1 exec /opt/vllm serve m'\n";
    assert.deepEqual(devicesFacts(exec, file).setting, { value: '1', from: 'exec-start' });
  });

  it('says why it may be set out of sight', () => {
    const f = devicesFacts('[Service]\nExecStart=/home/u/start.sh\n', { ...base, unreadableEnvFiles: ['/etc/x.env'] });
    assert.equal(f.setting, undefined);
    assert.equal(f.hidden, '/etc/x.env could not be read; /home/u/start.sh may set it');
  });

  it('is one of the checks of every service whose unit doctor could read', () => {
    const parsed = parseConfig(
      `services:
  big: { driver: vllm, unit: big.service, port: 7071, vram_mb: 40000, gpus: [0, 1] }
  app: { driver: http, unit: app.service, port: 7075, vram_mb: 2000, gpu: 1, sleep: { sleep: "POST /unload", wake: "POST /load", probe: "GET /status" } }
modes:
  m: { services: [big, app] }
`,
      'gpumod.yaml',
    );
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const unit = (name: string): UnitStatus => ({ unit: name, loadState: 'loaded', activeState: 'inactive', subState: 'dead', mainPid: 0, result: 'success', execMainStatus: 0, controlGroup: '', nRestarts: 0, stateChangeUs: 0 });
    const facts = (name: string, env: string): ServiceFacts => ({
      unit: unit(name),
      unitText: `[Service]\n${env}ExecStart=/opt/bin/vllm serve m --host 127.0.0.1 --port 7071\n`,
      envFileVars: new Map(),
      unreadableEnvFiles: [],
      listeners: [],
      cards: CARDS,
    });
    const gpus = (name: string, env: string): string[] =>
      checkService(parsed.config.services.get(name) as ServiceConfig, facts(`${name}.service`, env))
        .filter((f) => f.check === 'gpus')
        .map((f) => `${f.ok ? 'ok' : f.severity}`);
    assert.deepEqual(gpus('big', 'Environment=CUDA_VISIBLE_DEVICES=0,1\n'), ['ok']);
    assert.deepEqual(gpus('big', ''), ['warning']);
    assert.deepEqual(gpus('app', 'Environment=CUDA_VISIBLE_DEVICES=0\n'), ['error']);
    assert.deepEqual(gpus('app', 'Environment=CUDA_VISIBLE_DEVICES=GPU-9f8e7d6c\n'), ['ok']);
  });
});
