import * as assert from 'node:assert/strict';
import { checkService, findingsJson, type Finding, type ServiceFacts } from '../../../src/cli/doctorCommand';
import { parseConfig } from '../../../src/config/load';
import type { ServiceConfig } from '../../../src/config/types';
import {
  commandView,
  flagValue,
  hasFlag,
  listenersOn,
  parseEnvironmentFile,
  parseProcNetTcp,
  parseServiceSection,
  socketInode,
  splitUnitWords,
  TCP_LISTEN,
} from '../../../src/system/inspect';
import type { UnitStatus } from '../../../src/engine/machinePorts';

describe('doctor: unit text', () => {
  it('splits words as systemd does: quotes, C escapes, %%', () => {
    assert.deepEqual(splitUnitWords(`/usr/bin/vllm serve "my model" --x 'a b' c\\x41d "q\\"uote" 100%% `), ['/usr/bin/vllm', 'serve', 'my model', '--x', 'a b', 'cAd', 'q"uote', '100%']);
    assert.deepEqual(splitUnitWords('   '), []);
  });

  it('reads ExecStart= and Environment= of [Service] only, with drop-ins that reset ExecStart=', () => {
    const text = [
      '# /home/u/.config/systemd/user/vllm-chat.service',
      '[Unit]',
      'Description=chat',
      'Environment=NOT_SERVICE=1',
      '',
      '[Service]',
      'Environment="VLLM_SERVER_DEV_MODE=1" HF_HOME=/data/hf',
      'EnvironmentFile=-/etc/vllm.env',
      'ExecStart=/opt/venv/bin/vllm serve Qwen/Qwen3-4B \\',
      '    --port 7071',
      '; a comment',
      '',
      '# /home/u/.config/systemd/user/vllm-chat.service.d/override.conf',
      '[Service]',
      'ExecStart=',
      'ExecStart=-/opt/venv/bin/vllm serve Qwen/Qwen3-4B --enable-sleep-mode --host 127.0.0.1 --port 7071',
      'Environment=PYTORCH_CUDA_ALLOC_CONF=expandable_segments:False',
    ].join('\n');
    const s = parseServiceSection(text);
    assert.deepEqual(s.execStart, [['/opt/venv/bin/vllm', 'serve', 'Qwen/Qwen3-4B', '--enable-sleep-mode', '--host', '127.0.0.1', '--port', '7071']]);
    assert.deepEqual([...s.environment], [
      ['VLLM_SERVER_DEV_MODE', '1'],
      ['HF_HOME', '/data/hf'],
      ['PYTORCH_CUDA_ALLOC_CONF', 'expandable_segments:False'],
    ]);
    assert.deepEqual(s.environmentFiles, ['/etc/vllm.env']);
  });

  it('joins continued lines and drops the @ argv[0] word', () => {
    const s = parseServiceSection('[Service]\nExecStart=@/usr/bin/llama-server llama \\\n  --models-dir /m \\\n  --no-models-autoload\n');
    assert.deepEqual(s.execStart, [['/usr/bin/llama-server', '--models-dir', '/m', '--no-models-autoload']]);
  });

  it('reads EnvironmentFile= files', () => {
    const env = parseEnvironmentFile('# vllm\nexport VLLM_SERVER_DEV_MODE=1\nHF_TOKEN="abc def"\n\nbad line\n');
    assert.deepEqual([...env], [
      ['VLLM_SERVER_DEV_MODE', '1'],
      ['HF_TOKEN', 'abc def'],
    ]);
  });
});

describe('doctor: command lines', () => {
  it('unfolds sh -c scripts, env prefixes and assignments', () => {
    const sh = commandView(['/bin/bash', '-c', `source /opt/venv/bin/activate && VLLM_SERVER_DEV_MODE=1 exec vllm serve "m x" --enable-sleep-mode --host=127.0.0.1`]);
    assert.ok(hasFlag(sh.words, '--enable-sleep-mode'));
    assert.equal(flagValue(sh.words, '--host'), '127.0.0.1');
    assert.ok(sh.words.includes('m x'));
    const env = commandView(['/usr/bin/env', '-u', 'X', 'VLLM_SERVER_DEV_MODE=1', 'vllm', 'serve', 'm']);
    assert.equal(env.program, 'vllm');
    assert.equal(env.env.get('VLLM_SERVER_DEV_MODE'), '1');
    assert.equal(commandView(['/usr/bin/vllm', 'serve']).program, '/usr/bin/vllm');
  });

  it('finds flags in both spellings and takes the last value', () => {
    const w = ['vllm', 'serve', '--enable_sleep_mode', '--port', '1', '--port=2', '-m', 'x.gguf'];
    assert.ok(hasFlag(w, '--enable-sleep-mode'));
    assert.ok(hasFlag(w, '-m'));
    assert.ok(!hasFlag(w, '--host'));
    assert.equal(flagValue(w, '--port'), '2');
    assert.equal(flagValue(w, '--host'), undefined);
  });
});

describe('doctor: /proc/net/tcp', () => {
  // Recorded on x86_64 (little-endian): 127.0.0.1:39062 and 0.0.0.0:7071 listening, one established.
  const TCP = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:9896 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 198614 1 00000000ef000cda 100 0 0 10 0',
    '   1: 00000000:1B9F 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 450326 1 00000000a45b0256 100 0 0 10 0',
    '   2: 0100007F:1B9F 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000f42d92 20 4 30 10 -1',
  ].join('\n');
  const TCP6 = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5501 1 0 100 0 0 10 0',
    '   1: 00000000000000000000000000000000:1B9F 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5502 1 0 100 0 0 10 0',
    '   2: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5503 1 0 100 0 0 10 0',
    '   3: 000080FE00000000FF005452123456FE:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5504 1 0 100 0 0 10 0',
  ].join('\n');

  it('decodes addresses, ports, states, uids and inodes', () => {
    assert.deepEqual(parseProcNetTcp(TCP), [
      { address: '127.0.0.1', port: 39062, state: TCP_LISTEN, uid: 0, inode: 198614 },
      { address: '0.0.0.0', port: 7071, state: TCP_LISTEN, uid: 1000, inode: 450326 },
      { address: '127.0.0.1', port: 7071, state: 1, uid: 1000, inode: 0 },
    ]);
    assert.deepEqual(
      parseProcNetTcp(TCP6).map((s) => `${s.address} ${s.port} ${s.inode}`),
      ['::1 8080 5501', ':: 7071 5502', '127.0.0.1 80 5503', 'fe80::5254:ff:fe56:3412 22 5504'],
    );
    assert.deepEqual(parseProcNetTcp('garbage\n  0: zz:zz\n'), []);
  });

  it('finds the listeners that take a port from a loopback server', () => {
    const all = [...parseProcNetTcp(TCP), ...parseProcNetTcp(TCP6)];
    assert.deepEqual(listenersOn(all, 7071, '127.0.0.1').map((s) => s.inode), [450326, 5502]); // wildcards, not the connection
    assert.deepEqual(listenersOn(all, 8080, '127.0.0.1'), []); // ::1 is another address
    assert.deepEqual(listenersOn(all, 8080, 'localhost').map((s) => s.inode), [5501]);
    assert.deepEqual(listenersOn(all, 39062, '127.0.0.1').map((s) => s.inode), [198614]);
  });

  it('reads socket inodes from fd links', () => {
    assert.equal(socketInode('socket:[450326]'), 450326);
    assert.equal(socketInode('pipe:[1]'), undefined);
    assert.equal(socketInode('/dev/null'), undefined);
  });
});

describe('doctor: rules', () => {
  const yaml = `services:
  chat: { driver: vllm, unit: chat.service, port: 7071, vram_mb: 7000, sleep: l1 }
  emb: { driver: vllm, unit: emb.service, port: 7073, vram_mb: 3000 }
  glm: { driver: llamacpp, unit: glm.service, port: 7070, vram_mb: 20000, model: GLM }
modes:
  m: { services: [chat] }
`;
  const parsed = parseConfig(yaml, 'gpumod.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const svc = (n: string): ServiceConfig => parsed.config.services.get(n) as ServiceConfig;
  const unit = (name: string, activeState = 'active', loadState = 'loaded'): UnitStatus => ({
    unit: name,
    loadState,
    activeState,
    subState: activeState === 'active' ? 'running' : 'dead',
    mainPid: activeState === 'active' ? 42 : 0,
    result: 'success',
    execMainStatus: 0,
    controlGroup: '',
    nRestarts: 0,
    stateChangeUs: 0,
  });
  const facts = (over: Partial<ServiceFacts>): ServiceFacts => ({ envFileVars: new Map(), unreadableEnvFiles: [], listeners: [], ...over });
  const unitText = (exec: string, env = ''): string => `[Service]\n${env ? `Environment=${env}\n` : ''}ExecStart=${exec}\n`;
  const failed = (fs: Finding[]): string[] => fs.filter((f) => !f.ok).map((f) => `${f.check}:${f.severity}`);
  const GOOD = '/opt/bin/vllm serve m --enable-sleep-mode --host 127.0.0.1 --port 7071';

  it('passes a well set-up running vLLM', () => {
    const fs = checkService(svc('chat'), facts({
      unit: unit('chat.service'),
      unitText: unitText(GOOD, 'VLLM_SERVER_DEV_MODE=1'),
      listeners: [{ address: '127.0.0.1', pid: 42, unit: 'chat.service', comm: 'vllm' }],
      endpoint: { request: 'GET /is_sleeping', status: 200, body: '{"is_sleeping":false}' },
    }));
    assert.deepEqual(failed(fs), []);
    assert.deepEqual(fs.map((f) => f.check), ['unit', 'sleep-flag', 'dev-mode', 'alloc-conf', 'host', 'port-flag', 'port', 'endpoint']);
  });

  it('flags a missing dev mode, a missing sleep flag and a wildcard bind, each with its fix', () => {
    const fs = checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive'), unitText: unitText('/opt/bin/vllm serve m --host 0.0.0.0 --port 7071') }));
    assert.deepEqual(failed(fs), ['sleep-flag:error', 'dev-mode:error', 'host:error']);
    const byCheck = new Map(fs.map((f) => [f.check, f]));
    assert.match(byCheck.get('dev-mode')?.fix ?? '', /Environment=VLLM_SERVER_DEV_MODE=1/);
    assert.match(byCheck.get('sleep-flag')?.fix ?? '', /--enable-sleep-mode/);
    assert.match(byCheck.get('host')?.fix ?? '', /--host 127\.0\.0\.1/);
    // No --host at all is the same exposure: vLLM binds 0.0.0.0 by default.
    const noHost = checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive'), unitText: unitText('/opt/bin/vllm serve m --enable-sleep-mode --port 7071', 'VLLM_SERVER_DEV_MODE=1') }));
    assert.deepEqual(failed(noHost), ['host:error']);
    assert.match(noHost.find((f) => f.check === 'host')?.message ?? '', /0\.0\.0\.0/);
  });

  it("judges a running server's bind by its own sockets rather than its flags", () => {
    const running = (exec: string, address: string): string[] =>
      failed(checkService(svc('chat'), facts({ unit: unit('chat.service'), unitText: unitText(exec, 'VLLM_SERVER_DEV_MODE=1'), listeners: [{ address, pid: 42, unit: 'chat.service' }] })));
    assert.deepEqual(running(GOOD, '0.0.0.0'), ['host:error']);
    assert.deepEqual(running('/opt/bin/vllm serve m --enable-sleep-mode --port 7071', '127.0.0.1'), []);
    assert.deepEqual(running('/home/u/start.sh', '::'), ['command:warning', 'sleep-flag:warning', 'host:error']);
  });

  it('takes the dev-mode variable from an EnvironmentFile, and only warns about what a script hides', () => {
    const fromFile = checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive'), unitText: unitText(GOOD), envFileVars: new Map([['VLLM_SERVER_DEV_MODE', '1']]) }));
    assert.deepEqual(failed(fromFile), []);
    const script = checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive'), unitText: unitText('/home/u/start-chat.sh') }));
    assert.deepEqual(failed(script), ['command:warning', 'sleep-flag:warning', 'dev-mode:warning']);
    const zero = checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive'), unitText: unitText(GOOD, 'VLLM_SERVER_DEV_MODE=0') }));
    assert.deepEqual(failed(zero), ['dev-mode:error']);
  });

  it('finds expandable segments in the allocator settings, which make sleep free nothing', () => {
    const withConf = (env: string, vars = new Map<string, string>()): Finding[] =>
      checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive'), unitText: unitText(GOOD, `VLLM_SERVER_DEV_MODE=1 ${env}`), envFileVars: vars }));
    const on = withConf('PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:512,expandable_segments:True');
    assert.deepEqual(failed(on), ['alloc-conf:error']);
    const finding = on.find((f) => f.check === 'alloc-conf');
    assert.match(finding?.message ?? '', /PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:512,expandable_segments:True: .*sleep frees nothing/);
    assert.match(finding?.fix ?? '', /remove expandable_segments:True from PYTORCH_CUDA_ALLOC_CONF \(systemctl --user edit --full chat\.service\)/);
    assert.deepEqual(failed(withConf('PYTORCH_ALLOC_CONF=expandable_segments:true')), ['alloc-conf:error']);
    assert.deepEqual(failed(withConf('', new Map([['PYTORCH_CUDA_ALLOC_CONF', 'expandable_segments:1']]))), ['alloc-conf:error']);
    assert.deepEqual(failed(withConf('PYTORCH_CUDA_ALLOC_CONF=expandable_segments:False')), []);
    assert.deepEqual(failed(withConf('PYTORCH_CUDA_ALLOC_CONF=garbage_collection_threshold:0.6')), []);
  });

  it('does not ask a vLLM that never sleeps for sleep flags; an open bind is then a warning', () => {
    const fs = checkService(svc('emb'), facts({ unit: unit('emb.service', 'inactive'), unitText: unitText('/opt/bin/vllm serve e --port 7073') }));
    assert.deepEqual(failed(fs), ['host:warning']);
  });

  it('reports a unit that does not exist, and a port taken by another unit', () => {
    const fs = checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive', 'not-found'), listeners: [{ address: '0.0.0.0', pid: 7, unit: 'other.service', comm: 'python3' }] }));
    assert.deepEqual(failed(fs), ['unit:error', 'port:error']);
    assert.match(fs[0].message, /unit not found: chat\.service/);
    assert.match(fs[0].fix ?? '', /create it .* or fix `unit:`/);
    assert.match(fs[1].message, /port 7071 is taken by PID 7 \(python3\) of other\.service/);
  });

  it('reads dev mode off a running server: /is_sleeping 404', () => {
    const fs = checkService(svc('chat'), facts({
      unit: unit('chat.service'),
      unitText: unitText(GOOD, 'VLLM_SERVER_DEV_MODE=1'),
      listeners: [{ address: '127.0.0.1', pid: 42, unit: 'chat.service' }],
      endpoint: { request: 'GET /is_sleeping', status: 404, body: '{"detail":"Not Found"}' },
    }));
    assert.deepEqual(failed(fs), ['endpoint:error']);
    assert.match(fs.find((f) => f.check === 'endpoint')?.message ?? '', /404.*dev mode missing/);
  });

  it('checks a llama.cpp router: router mode, no autoload, the model listed, the port in ExecStart', () => {
    const good = checkService(svc('glm'), facts({
      unit: unit('glm.service'),
      unitText: unitText('/opt/llama-server --models-dir /models --no-models-autoload --port 7070'),
      listeners: [{ address: '127.0.0.1', pid: 9, unit: 'glm.service' }],
      endpoint: { request: 'GET /models', status: 200, body: '{"data":[{"id":"GLM","status":{"value":"unloaded"}}]}' },
    }));
    assert.deepEqual(failed(good), []);
    const bad = checkService(svc('glm'), facts({
      unit: unit('glm.service'),
      unitText: unitText('/opt/llama-server -m /models/GLM.gguf --port 8000'),
      listeners: [{ address: '127.0.0.1', pid: 9, unit: 'glm.service' }],
      endpoint: { request: 'GET /models', status: 200, body: '{"data":[{"id":"other","status":{"value":"loaded"}}]}' },
    }));
    assert.deepEqual(failed(bad), ['router:error', 'autoload:error', 'port-flag:error', 'endpoint:error']);
    assert.match(bad.find((f) => f.check === 'endpoint')?.message ?? '', /does not list GLM \(it lists: other\)/);
  });

  it('compares a shared router\'s --models-max with the models a mode needs, and warns about --sleep-idle-seconds', () => {
    const a = { ...svc('glm'), name: 'a', model: 'a' };
    const b = { ...svc('glm'), name: 'b', model: 'b' };
    const config = {
      services: new Map([['a', a], ['b', b]]),
      modes: new Map([['both', { name: 'both', services: ['a', 'b'] }], ['one', { name: 'one', services: ['a'] }]]),
    };
    const run = (flags: string): ReturnType<typeof checkService> =>
      checkService(a, facts({ unit: unit('glm.service'), unitText: unitText(`/opt/llama-server --models-dir /models --no-models-autoload --port 7070 ${flags}`) }), config);
    const tight = run('--models-max 1 --sleep-idle-seconds 300');
    const max = tight.find((f) => f.check === 'models-max');
    assert.equal(max?.severity, 'error');
    assert.match(max?.message ?? '', /mode both needs 2 models of glm\.service \(a, b\), but --models-max is 1/);
    assert.match(max?.fix ?? '', /raise --models-max to 2/);
    const idle = tight.find((f) => f.check === 'idle-sleep');
    assert.equal(idle?.severity, 'warning');
    assert.match(idle?.message ?? '', /--sleep-idle-seconds 300: an idle model goes to sleep behind gpumod's back .* any request reloads it/);
    const fine = run('--models-max 2');
    assert.equal(fine.find((f) => f.check === 'models-max')?.ok, true);
    assert.equal(fine.find((f) => f.check === 'idle-sleep'), undefined);
  });

  it('summarises findings as JSON with a fix only where a check failed', () => {
    const fs = checkService(svc('chat'), facts({ unit: unit('chat.service', 'inactive', 'not-found') }));
    const j = findingsJson(fs) as { ok: boolean; errors: number; findings: Array<{ fix: string | null; ok: boolean }> };
    assert.equal(j.ok, false);
    assert.equal(j.errors, 1);
    assert.ok(j.findings.every((f) => (f.ok ? f.fix === null : typeof f.fix === 'string')));
  });
});
