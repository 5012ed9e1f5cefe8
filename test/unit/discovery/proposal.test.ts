import * as assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load';
import { STARTER_CONFIG } from '../../../src/config/starter';
import { classifyCommand } from '../../../src/discovery/classify';
import type { Detected, Detection, Origin } from '../../../src/discovery/detect';
import { buildProposal, serviceNameFrom, type Proposal } from '../../../src/discovery/proposal';
import { existingServices, mergeProposal, type ModePlan } from '../../../src/discovery/proposalYaml';
import type { GpuSnapshot } from '../../../src/engine/machinePorts';

const DEV = { VLLM_SERVER_DEV_MODE: '1' };
const GPU: GpuSnapshot = { available: true, ms: 1, gpus: [{ index: 0, uuid: 'GPU-aa', name: 'H100', totalMb: 81559, usedMb: 30000, freeMb: 51559, processes: [] }] };

function unit(name: string, execStart: string, env: Record<string, string>, extra: Partial<Detected> = {}, origin: Origin = 'yours'): Detected {
  const running = extra.running ?? false;
  return {
    facts: { unit: name, description: '', origin, activeState: running ? 'active' : 'inactive', subState: running ? 'running' : 'dead', mainPid: running ? 100 : 0, env, execStart },
    classification: classifyCommand(execStart, env),
    running,
    ...extra,
  };
}

function detection(units: Detected[]): Detection {
  return { units, gpu: GPU, at: new Date('2026-12-01T10:00:00Z') };
}

const WORKSTATION = detection([
  unit('vllm-chat.service', '/home/u/.venv/bin/vllm serve Qwen/Qwen3-8B --port 7071 --host 127.0.0.1 --enable-sleep-mode', DEV, { running: true, answered: true, asleep: false, measured: { gpu: 0, mb: 21437, otherGpus: [] } }),
  unit('vllm-embed.service', 'python3 -m vllm.entrypoints.openai.api_server --model BAAI/bge-m3 --port 7072 --gpu-memory-utilization 0.1', {}),
  unit('llama.service', 'llama-server --models-dir /srv/models --models-max 1 --no-models-autoload --port 7070', {}, {
    running: true,
    answered: true,
    routerMb: 312,
    models: [
      { name: 'GLM-4.5-Air-Q4', source: 'router', loaded: true, measured: { gpu: 0, mb: 19650, otherGpus: [] } },
      { name: 'Qwen3-8B-Q4', source: 'router', loaded: false },
    ],
  }),
  unit('asr.service', '/srv/asr/.venv/bin/uvicorn asr.main:app --port 7080', {}, {
    running: true,
    answered: true,
    measured: { gpu: 0, mb: 2480, otherGpus: [] },
    app: { hooks: { sleep: 'POST /unload', wake: 'POST /load', probe: 'GET /status' }, health: '/health', from: 'openapi' },
  }),
  unit('backup.service', '/usr/bin/restic backup /home', {}),
  unit('pipewire.service', '/usr/bin/pipewire', {}, {}, 'package'),
  unit('dbus.service', '/usr/bin/dbus-daemon --session', {}, {}, 'package'),
]);

function merged(current: string | undefined, proposal: Proposal, plan: ModePlan = { kind: 'per-service' }) {
  const m = mergeProposal(current, '/home/u/.config/gpumod/gpumod.yaml', proposal, proposal.drafts, plan, new Date('2026-12-01T10:00:00Z'));
  if (!m.ok) assert.fail(`not valid:\n${m.problems.join('\n')}`);
  return m;
}

describe('discovery: the proposal and its gpumod.yaml', () => {
  it('a fresh file: every server with its port, model, sleep and memory, commented; it loads', () => {
    const p = buildProposal(WORKSTATION);
    assert.deepEqual(p.drafts.map((d) => d.name), ['vllm-chat', 'vllm-embed', 'GLM-4.5-Air-Q4', 'Qwen3-8B-Q4', 'asr']);
    const m = merged(undefined, p);
    const cfg = m.config;
    const chat = cfg.services.get('vllm-chat');
    assert.equal(chat?.driver, 'vllm');
    assert.equal(chat?.port, 7071);
    assert.equal(chat?.sleep, 'l1');
    assert.equal(chat?.vramMb, 21500);
    assert.match(m.text, /vram_mb: 21500 # measured now: 21437 MiB on GPU 0/);
    assert.match(m.text, /sleep: l1 # --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1/);
    const embed = cfg.services.get('vllm-embed');
    assert.equal(embed?.sleep, 'none');
    assert.equal(embed?.vramMb, 8200); // 0.1 of 81559, rounded up to 100
    assert.match(m.text, /sleep: none # no --enable-sleep-mode, no VLLM_SERVER_DEV_MODE=1 in its environment: gpumod would cold-start it/);
    assert.match(m.text, /port: 7072 # from the command line/);
    const glm = cfg.services.get('GLM-4.5-Air-Q4');
    assert.equal(glm?.driver, 'llamacpp');
    assert.equal(glm?.model, 'GLM-4.5-Air-Q4');
    assert.equal(glm?.vramMb, 19700);
    assert.equal(glm?.sleepVramMb, 400);
    assert.equal(cfg.services.get('Qwen3-8B-Q4')?.unit, 'llama.service');
    assert.deepEqual(cfg.services.get('Qwen3-8B-Q4')?.undeclared, ['vram_mb', 'sleep_ram_mb']);
    const asr = cfg.services.get('asr');
    assert.equal(asr?.driver, 'http');
    assert.deepEqual(asr?.hooks, { sleep: { method: 'POST', path: '/unload' }, wake: { method: 'POST', path: '/load' }, probe: { method: 'GET', path: '/status' } });
    // One mode per service, and blank.
    assert.deepEqual([...cfg.modes.keys()], ['vllm-chat', 'vllm-embed', 'GLM-4.5-Air-Q4', 'Qwen3-8B-Q4', 'asr', 'blank']);
    assert.deepEqual(cfg.modes.get('blank')?.services, []);
    assert.match(m.text, /services: \[vllm-chat\]/);
    // What was not added, with the reason; packages only counted.
    assert.match(m.text, /# {3}backup\.service: runs "restic": not vLLM/);
    assert.match(m.text, /# 2 units of installed packages or generators are not GPU servers/);
    assert.doesNotMatch(m.text, /pipewire/);
    assert.match(m.text, /# llama\.service \(running\): llama-server/);
    assert.match(m.text, /at most 1 loaded at once/);
  });

  it('merged into the starter file: its comments and blank mode stay; no second blank', () => {
    const p = buildProposal(WORKSTATION);
    const m = merged(STARTER_CONFIG, p);
    for (const line of STARTER_CONFIG.split('\n').filter((l) => l.trim().startsWith('#'))) assert.ok(m.text.includes(line.trim()), `lost: ${line}`);
    assert.equal(m.config.modes.get('blank')?.description, 'Nothing on the GPU');
    assert.equal((m.text.match(/^ {2}blank:/gm) ?? []).length, 1);
    assert.equal(m.config.services.size, 5);
    assert.match(m.text, /# added by Detect Services on 2026-12-01:/);
  });

  it('merged into a user file: its services, modes and comments kept; units already there are not added again; a taken name gets a suffix', () => {
    const mine = [
      '# my GPU box',
      'budget:',
      '  margin_mb: 1024 # headroom for the desktop',
      'services:',
      '  # the big chat model',
      '  chat:',
      '    driver: vllm',
      '    unit: vllm-chat.service',
      '    port: 7071',
      '    vram_mb: 20000',
      '    sleep: l2 # I prefer l2',
      '  vllm-embed:',
      '    driver: systemd',
      '    unit: other.service',
      '    port: 9999',
      'modes:',
      '  work: { services: [chat] } # daily',
      '',
    ].join('\n');
    const ex = existingServices(mine);
    assert.ok(ex.ok);
    const p = buildProposal(WORKSTATION, ex.existing);
    assert.ok(!p.drafts.some((d) => d.unit === 'vllm-chat.service'));
    assert.deepEqual(p.notAdded.find((n) => n.unit === 'vllm-chat.service'), { unit: 'vllm-chat.service', origin: 'yours', running: true, reason: 'already in gpumod.yaml as chat', why: 'configured' });
    const embed = p.drafts.find((d) => d.unit === 'vllm-embed.service');
    assert.equal(embed?.name, 'vllm-embed-2');
    const m = merged(mine, p);
    // Every byte of the user's file is still there, in order: the new entries are inserted.
    let rest = m.text;
    for (const line of mine.split('\n')) {
      const at = rest.indexOf(line);
      assert.ok(at >= 0, `lost or moved: ${JSON.stringify(line)}\n${m.text}`);
      rest = rest.slice(at + line.length);
    }
    assert.match(m.text, /sleep: l2 # I prefer l2/);
    assert.match(m.text, /work: \{ services: \[chat\] \} # daily/);
    assert.equal(m.config.services.get('chat')?.sleep, 'l2');
    assert.equal(m.config.budget.marginMb, 1024);
    assert.ok(m.config.modes.has('work'));
    assert.ok(m.config.services.has('vllm-embed-2'));
    // The user's file had no empty mode: blank is added.
    assert.deepEqual(m.config.modes.get('blank')?.services, []);
    // Units not added are reported, not written into the user's file.
    assert.doesNotMatch(m.text, /Units not added/);
  });

  it('merged into files of other shapes: no modes key, four-space indentation, CRLF line ends, `services:` with nothing', () => {
    const p = buildProposal(WORKSTATION);
    const noModes = merged('services:\n    chat:\n        driver: systemd\n        unit: x.service\n        port: 1\n', p);
    assert.ok(noModes.text.startsWith('services:\n    chat:\n        driver: systemd\n        unit: x.service\n        port: 1\n    # added by'), noModes.text);
    assert.match(noModes.text, /\n {4}vllm-chat:\n {8}driver: vllm\n/);
    assert.match(noModes.text, /\nmodes:\n {2}vllm-chat:\n/);
    const crlf = 'services:\r\n  chat: { driver: systemd, unit: x.service, port: 1 }\r\nmodes:\r\n  one: { services: [chat] }\r\n';
    const m = merged(crlf, p);
    assert.ok(m.text.startsWith('services:\r\n  chat: { driver: systemd, unit: x.service, port: 1 }\r\n  # added by'), JSON.stringify(m.text.slice(0, 200)));
    assert.doesNotMatch(m.text.replace(/\r\n/g, ''), /\n/);
    assert.ok(m.config.modes.has('one') && m.config.modes.has('vllm-chat'));
    const bare = merged('# mine\nservices:\nmodes:\n', p);
    assert.ok(bare.text.startsWith('# mine\nservices:\n  # added by'), bare.text);
    assert.equal(bare.config.services.size, 5);
  });

  it('a one-line services mapping with entries is refused with what to do', () => {
    const m = mergeProposal('services: { a: { driver: systemd, unit: a.service, port: 1 } }\nmodes: {}\n', 'f.yaml', buildProposal(WORKSTATION), buildProposal(WORKSTATION).drafts, { kind: 'per-service' });
    assert.ok(!m.ok && /one-line \{…\} mappings/.test(m.problems[0]));
  });

  it('detecting again after applying adds nothing', () => {
    const first = merged(undefined, buildProposal(WORKSTATION));
    const ex = existingServices(first.text);
    assert.ok(ex.ok);
    const again = buildProposal(WORKSTATION, ex.existing);
    assert.deepEqual(again.drafts, []);
    assert.equal(again.notAdded.filter((n) => n.why === 'configured').length, 5);
  });

  it('all in one mode: alternatives on one port are left out, and a mode that cannot fit the card is flagged', () => {
    const ws = detection([
      unit('a.service', 'vllm serve big --port 7000 --enable-sleep-mode', DEV, { running: true, measured: { gpu: 0, mb: 60000, otherGpus: [] } }),
      unit('b.service', 'vllm serve other --port 7000', DEV),
      unit('c.service', 'vllm serve big2 --port 7001 --gpu-memory-utilization 0.4', DEV),
    ]);
    const p = buildProposal(ws);
    const m = merged(undefined, p, { kind: 'all-in-one', name: 'everything' });
    assert.deepEqual(m.config.modes.get('everything')?.services, ['a', 'c']);
    assert.ok(m.notes.some((n) => /b left out, it listens on the same port as a/.test(n)), m.notes.join('\n'));
    assert.match(m.text, /# warning: needs about \d+ MiB on GPU 0, which has 81559/);
  });

  it('groups: mode names are checked, services of a router may share a mode', () => {
    const p = buildProposal(WORKSTATION);
    const m = merged(undefined, p, { kind: 'groups', groups: [{ name: 'code', services: ['GLM-4.5-Air-Q4', 'Qwen3-8B-Q4', 'asr'] }, { name: 'bad name!', services: ['asr'] }] });
    assert.deepEqual(m.config.modes.get('code')?.services, ['GLM-4.5-Air-Q4', 'Qwen3-8B-Q4', 'asr']);
    assert.ok(m.notes.some((n) => n.includes('"bad name!" left out')));
    assert.deepEqual([...m.config.modes.keys()], ['code', 'blank']);
  });

  it('a mode name the user already has keeps the user\'s mode', () => {
    const p = buildProposal(WORKSTATION);
    const m = merged('services: {}\nmodes:\n  asr: { services: [] }\n', p);
    assert.deepEqual(m.config.modes.get('asr')?.services, []);
    assert.ok(m.notes.includes('mode asr already exists: kept as it is'));
  });

  it('vLLM details: asleep now (the residue measured), expandable segments, a LAN-only bind not added', () => {
    const ws = detection([
      unit('sleepy.service', 'vllm serve m --port 7010 --enable-sleep-mode --gpu-memory-utilization 0.3', DEV, { running: true, answered: true, asleep: true, measured: { gpu: 0, mb: 2650, otherGpus: [] } }),
      unit('exp.service', 'vllm serve m --port 7011 --enable-sleep-mode', { ...DEV, PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' }),
      unit('lan.service', 'vllm serve m --port 7012 --host 10.0.0.5', DEV),
      unit('nodev.service', 'vllm serve m --port 7013 --enable-sleep-mode', {}, { running: true, answered: true, devModeOff: true }),
    ]);
    const p = buildProposal(ws);
    const m = merged(undefined, p);
    const sleepy = m.config.services.get('sleepy');
    assert.equal(sleepy?.sleepVramMb, 2700);
    assert.equal(sleepy?.vramMb, 24500);
    assert.match(m.text, /sleep_vram_mb: 2700 # measured now, asleep: 2650 MiB on GPU 0/);
    assert.match(m.text, /vram_mb: 24500 # guessed: --gpu-memory-utilization 0.3 of 81559 MiB/);
    assert.equal(m.config.services.get('exp')?.sleep, 'none');
    assert.match(m.text, /expandable_segments:True makes a sleep free nothing/);
    assert.equal(m.config.services.get('nodev')?.sleep, 'none');
    assert.equal(m.config.services.has('lan'), false);
    assert.match(p.notAdded.find((n) => n.unit === 'lan.service')?.reason ?? '', /listens on 10\.0\.0\.5 only/);
  });

  it('a router without models is skipped with the reason; model names the config cannot hold are named', () => {
    const ws = detection([
      unit('empty.service', 'llama-server --models-dir /nowhere --port 7020', {}, { models: [] }),
      unit('cache.service', 'llama-server --port 7021', {}, { running: true, models: [{ name: 'ggml-org/gemma-3-1b-it-GGUF:Q4_K_M', source: 'router' }, { name: 'ok-model', source: 'router' }] }),
    ]);
    const p = buildProposal(ws);
    assert.match(p.notAdded.find((n) => n.unit === 'empty.service')?.reason ?? '', /router mode, but no models found \(nothing in --models-dir \/nowhere\)/);
    assert.match(p.notAdded.find((n) => n.unit === 'cache.service')?.reason ?? '', /gemma-3-1b-it-GGUF:Q4_K_M" of this router has a name/);
    assert.deepEqual(p.drafts.map((d) => d.name), ['ok-model']);
    assert.ok(merged(undefined, p).config.services.has('ok-model'));
  });

  it('an app without hooks is start/stop with the reason; one that is not running says its endpoints were not looked at', () => {
    const ws = detection([
      unit('tts.service', 'fastapi run tts.py --port 7030', {}, { running: true, answered: true, app: { health: '/openapi.json', from: 'openapi' } }),
      unit('idle.service', 'uvicorn idle:app --port 7031', {}),
    ]);
    const m = merged(undefined, buildProposal(ws));
    assert.equal(m.config.services.get('tts')?.driver, 'systemd');
    assert.equal(m.config.services.get('tts')?.healthPath, '/openapi.json');
    assert.match(m.text, /driver: systemd # no load\/unload endpoints found/);
    assert.match(m.text, /driver: systemd # not running, so its endpoints could not be looked at/);
  });

  it('a file that is not YAML is refused, naming it', () => {
    assert.equal(existingServices('services: [unclosed').ok, false);
    const m = mergeProposal('services: [unclosed', '/x/gpumod.yaml', buildProposal(WORKSTATION), [], { kind: 'per-service' });
    assert.ok(!m.ok && /\/x\/gpumod\.yaml: not valid YAML/.test(m.problems[0]));
  });

  it('service names from unit names stay within the schema', () => {
    assert.equal(serviceNameFrom('vllm-chat.service'), 'vllm-chat');
    assert.equal(serviceNameFrom('app-print\\x2dapplet@autostart.service'), 'app-print-applet-autostart');
    assert.equal(serviceNameFrom('_weird__.service'), 'weird');
    assert.equal(serviceNameFrom('x'.repeat(100)).length, 64);
    const parsed = parseConfig(`services:\n  ${serviceNameFrom('@@@.service')}: { driver: systemd, unit: a.service, port: 1 }\nmodes: {}\n`, 'f');
    assert.ok(parsed.ok);
  });
});

