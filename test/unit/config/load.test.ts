import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alternativesOf } from '../../../src/config/alternatives';
import { loadConfig, parseConfig, type ParseResult } from '../../../src/config/load';
import { STARTER_CONFIG } from '../../../src/config/starter';
import { formatProblem } from '../../../src/config/types';

const SAMPLE = readFileSync(join(process.cwd(), 'test/samples/workstation.yaml'), 'utf8');

function problems(text: string): string[] {
  const r = parseConfig(text, 'gpumod.yaml');
  assert.equal(r.ok, false, 'expected problems');
  return (r as Extract<ParseResult, { ok: false }>).problems.map(formatProblem);
}

function ok(text: string): NonNullable<Extract<ParseResult, { ok: true }>['config']> {
  const r = parseConfig(text, 'gpumod.yaml');
  if (!r.ok) assert.fail(r.problems.map(formatProblem).join('\n'));
  return r.config;
}

const ONE = (svc: string, extra = ''): string => `services:\n  a:\n${svc}\n${extra}modes:\n  m: { services: [a] }\n`;
const VLLM = '    driver: vllm\n    unit: a.service\n    port: 7000\n    vram_mb: 1000';

describe('config loader', () => {
  it('loads the eight-service workstation with defaults applied', () => {
    const c = ok(SAMPLE);
    assert.equal(c.services.size, 8);
    assert.deepEqual([...c.modes.keys()], ['code', 'rag', 'speak', 'blank']);
    const chat = c.services.get('vllm-chat')!;
    assert.equal(chat.host, '127.0.0.1');
    assert.equal(chat.sleep, 'l1');
    assert.equal(chat.sleepRamMb, 4500);
    assert.equal(chat.wakeTimeoutMs, 120000);
    const glm = c.services.get('glm-code')!;
    assert.equal(glm.sleep, 'router', 'llama.cpp services sleep by unloading the model');
    assert.equal(glm.sleepVramMb, 300);
    const asr = c.services.get('qwen3-asr')!;
    assert.equal(asr.sleep, 'hooks');
    assert.deepEqual(asr.hooks?.wake, { method: 'POST', path: '/load' });
    assert.equal(c.services.get('vllm-embedding')!.sleep, 'none');
    assert.equal(c.budget.marginMb, 512);
  });

  it('accepts the starter file as written', () => {
    const c = ok(STARTER_CONFIG);
    assert.equal(c.services.size, 0);
    assert.deepEqual([...c.modes.keys()], ['blank']);
  });

  it('derives the L1 host-RAM figure and the sleeping residue when not given', () => {
    const s = ok(ONE(`${VLLM}\n    sleep: l1`)).services.get('a')!;
    assert.equal(s.sleepVramMb, 1000, 'residue never exceeds the awake figure');
    assert.equal(s.sleepRamMb, 0);
    const big = ok(ONE('    driver: vllm\n    unit: a.service\n    port: 7000\n    vram_mb: 9000\n    sleep: l1')).services.get('a')!;
    assert.equal(big.sleepVramMb, 2600);
    assert.equal(big.sleepRamMb, 6400);
  });

  it('vram_mb may be left out: the service is of unknown size until measured, the residue takes its default', () => {
    const s = ok(ONE('    driver: vllm\n    unit: a.service\n    port: 7000\n    sleep: l1')).services.get('a')!;
    assert.deepEqual(s.undeclared, ['vram_mb', 'sleep_vram_mb', 'sleep_ram_mb']);
    assert.equal(s.vramMb, 0);
    assert.equal(s.sleepVramMb, 2600);
    assert.equal(s.sleepRamMb, 0);
    assert.equal(ok(ONE(`${VLLM}\n    sleep_vram_mb: 500`)).services.get('a')!.undeclared?.join(), 'sleep_ram_mb');
  });

  it('reports a wrong type with file, line, column, value and expectation', () => {
    assert.deepEqual(problems(ONE(VLLM.replace('vram_mb: 1000', 'vram_mb: lots'))), [
      'gpumod.yaml:6:14: vram_mb: expected a whole number, got "lots"',
    ]);
  });

  it('reports an unknown key at the key, listing the known ones', () => {
    const [p] = problems(ONE(`${VLLM}\n    colour: blue`));
    assert.match(p, /^gpumod\.yaml:7:5: unknown key "colour" in a \(expected one of: driver, unit, /);
  });

  it('reports every problem of a file in one pass, in file order', () => {
    const text = [
      'services:',
      '  chat:',
      '    driver: vllm',
      '    unit: "chat; rm -rf ~.service"',
      '    port: 70000',
      '    vram_mb: 1000',
      '    sleep: l3',
      '  glm:',
      '    driver: llamacpp',
      '    unit: glm.service',
      '    port: 7000',
      '    vram_mb: 1',
      '    host: 10.1.2.3',
      'modes:',
      '  code: { services: [glm, nope, glm] }',
      '',
    ].join('\n');
    assert.deepEqual(problems(text), [
      'gpumod.yaml:4:11: unit: "chat; rm -rf ~.service" is not a systemd unit name ending in .service (letters, digits and :_.@- only; no spaces, slashes or leading dash)',
      'gpumod.yaml:5:11: port: 70000 is above the maximum 65535',
      'gpumod.yaml:7:12: sleep: "l3" is not one of "none", "l1", "l2", "router"',
      'gpumod.yaml:9:13: service "glm": driver "llamacpp" needs "model", the router\'s model name',
      'gpumod.yaml:13:11: host "10.1.2.3" is not loopback: vLLM\'s sleep endpoints are unauthenticated, so list it in allowed_hosts to opt in',
      'gpumod.yaml:15:27: mode "code" names unknown service "nope" (configured: chat, glm)',
      'gpumod.yaml:15:33: mode "code" lists service "glm" twice',
    ]);
  });

  it('accepts a non-loopback host only when allowed_hosts opts it in', () => {
    const remote = ONE(`${VLLM}\n    host: gpu-box.lan`);
    assert.match(problems(remote)[0], /host "gpu-box\.lan" is not loopback/);
    assert.equal(ok(`allowed_hosts: [gpu-box.lan]\n${remote}`).services.get('a')!.host, 'gpu-box.lan');
  });

  it('takes services on one host:port as alternatives, and refuses a mode that names two of them', () => {
    const svc = (name: string, unit: string, extra = ''): string =>
      `  ${name}:\n    driver: llamacpp\n    unit: ${unit}\n    port: 7070\n    vram_mb: 1\n    model: M-${name}\n${extra}`;
    const file = (modes: string): string =>
      `allowed_hosts: [gpu-box.lan]\nservices:\n${svc('x', 'r.service')}${svc('y', 'r.service')}${svc('code', 'c.service')}${svc('nemo', 'n.service', '    host: localhost\n')}` +
      `${svc('far', 'f.service', '    host: gpu-box.lan\n')}modes:\n${modes}`;
    const c = ok(file('  a: { services: [x, y, far] }\n  b: { services: [code] }\n  c: { services: [nemo] }\n'));
    assert.deepEqual(alternativesOf(c, 'code'), ['x', 'y', 'nemo'], 'localhost and 127.0.0.1 are one host; gpu-box.lan:7070 is another socket');
    assert.deepEqual(alternativesOf(c, 'x'), ['code', 'nemo'], 'models of one router are not alternatives of each other');
    assert.deepEqual(alternativesOf(c, 'far'), []);
    assert.deepEqual(alternativesOf(c, 'nope'), []);
    assert.deepEqual(problems(file('  a: { services: [x, code] }\n  b: { services: [nemo, y] }\n')), [
      'gpumod.yaml:36:22: mode "a" names "x" and "code", which both listen on 127.0.0.1:7070: services on one port are alternatives, one runs at a time',
      'gpumod.yaml:37:25: mode "b" names "nemo" and "y", which both listen on 127.0.0.1:7070: services on one port are alternatives, one runs at a time',
    ]);
  });

  it('gateway: the names each service serves, idle sleep per service or by default, the port and token', () => {
    const two = `gateway: { port: 7100, token: abcdefghijklmnop0123, idle_sleep_s: 600 }
services:
  a: { driver: vllm, unit: a.service, port: 7000, vram_mb: 1000, serves: [Qwen/Qwen3-8B, chat], idle_sleep_s: 30 }
  b: { driver: llamacpp, unit: b.service, port: 7001, model: coder-7b }
modes:
  m: { services: [a, b] }
`;
    const c = ok(two);
    assert.deepEqual(c.gateway, { port: 7100, token: 'abcdefghijklmnop0123' });
    assert.deepEqual(c.services.get('a')!.serves, ['Qwen/Qwen3-8B', 'chat']);
    assert.equal(c.services.get('a')!.idleSleepMs, 30_000);
    assert.deepEqual(c.services.get('b')!.serves, ['coder-7b'], 'a router model serves its own name');
    assert.equal(c.services.get('b')!.idleSleepMs, 600_000, 'the gateway default');
    assert.equal(ok(ONE(VLLM)).gateway, undefined, 'no gateway section: none shown (the CLI still serves on the default port)');
    assert.equal(ok(ONE(VLLM)).services.get('a')!.idleSleepMs, undefined, 'never, unless asked');
    assert.deepEqual(
      problems(two.replace('serves: [coder-7b]', '').replace('model: coder-7b }', 'model: coder-7b, serves: [chat] }')),
      ['gpumod.yaml:4:81: model name "chat" is already served by "a": a request naming it must lead to one service'],
    );
    assert.deepEqual(problems(two.replace('token: abcdefghijklmnop0123', 'token: short')), [
      'gpumod.yaml:1:31: token: (the value, not shown) is shorter than 16 characters (expected at least 16 printable characters, no spaces)',
    ]);
    assert.doesNotMatch(problems(two.replace('token: abcdefghijklmnop0123', 'token: "abcdefghijklmnop 0123"')).join('\n'), /abcdefghijklmnop/, 'a token is never repeated');
    assert.match(problems(two.replace('serves: [Qwen/Qwen3-8B, chat]', 'serves: ["two words"]')).join('\n'), /^gpumod\.yaml:3:\d+: .*model name as clients send it/);
  });

  it('gpu names one card, gpus the cards a server spreads over; both at once is refused where gpus is written', () => {
    assert.deepEqual(ok(ONE(VLLM)).services.get('a')?.gpus, [0]);
    const one = ok(ONE(`${VLLM}\n    gpu: 1`)).services.get('a');
    assert.deepEqual([one?.gpu, one?.gpus], [1, [1]]);
    const spread = ok(ONE(`${VLLM}\n    gpus: [1, 0]`)).services.get('a');
    assert.deepEqual([spread?.gpu, spread?.gpus], [1, [1, 0]]);
    assert.deepEqual(problems(ONE(`${VLLM}\n    gpu: 0\n    gpus: [0, 1]`)), ['gpumod.yaml:8:11: service "a" gives both gpu and gpus: gpu names its one card, gpus the cards it spreads over; keep one']);
    assert.match(problems(ONE(`${VLLM}\n    gpus: [0, 0]`))[0], /gpumod\.yaml:7:11: .*duplicate/i);
    assert.match(problems(ONE(`${VLLM}\n    gpus: []`))[0], /gpumod\.yaml:7:11: /);
  });

  it('refuses sleep settings the driver cannot honour', () => {
    assert.match(problems(ONE(VLLM.replace('vllm', 'systemd') + '\n    sleep: l1'))[0], /sleep "l1" is not valid for driver "systemd" \(expected "none"\)/);
    assert.match(problems(ONE(VLLM.replace('vllm', 'http') + '\n    sleep: l2'))[0], /expected a hooks mapping or "none"/);
  });

  it('rejects names with shell metacharacters, path separators or a leading dash', () => {
    for (const unit of ['-x.service', 'a/b.service', 'a$(id).service', 'a b.service', 'x.socket']) {
      assert.match(problems(ONE(VLLM.replace('a.service', JSON.stringify(unit))))[0], /unit: .* is not a systemd unit name/, unit);
    }
    const router = '    driver: llamacpp\n    unit: a.service\n    port: 7000\n    vram_mb: 1\n    model: ';
    for (const model of ['../etc/passwd', '-m', 'a;b', 'x y']) {
      assert.match(problems(ONE(router + JSON.stringify(model)))[0], /model: .* is not a model name/, model);
    }
    assert.match(problems('services:\n  "-x": {}\nmodes: {}\n')[0], /^gpumod\.yaml:2:3: "-x" is not a valid name/);
  });

  it('reports YAML syntax errors and duplicate keys with their position', () => {
    assert.match(problems('services:\n  a: [\nmodes: {}\n')[0], /^gpumod\.yaml:\d+:\d+: /);
    assert.deepEqual(problems('services: {}\nmodes: {}\nmodes: {}\n'), ['gpumod.yaml:3:1: duplicate key "modes": a key appears once per mapping']);
  });

  it('refuses an alias bomb without expanding it', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
    const t0 = Date.now();
    assert.deepEqual(problems(lines.join('\n') + '\n'), ['gpumod.yaml:5:8: alias *d takes the file past 10000 values: refused without expanding it']);
    assert.ok(Date.now() - t0 < 2000);
  });

  it('refuses nesting past 64 levels quickly instead of parsing it', () => {
    const t0 = Date.now();
    assert.deepEqual(problems('a: ' + '['.repeat(5000)), ['gpumod.yaml:1:68: nesting deeper than 64 levels: a gpumod config is at most 5 deep']);
    assert.ok(Date.now() - t0 < 200);
  });

  it('describes an empty file, binary garbage and a non-mapping root precisely', () => {
    assert.deepEqual(problems(''), ['gpumod.yaml:1:1: the file: expected a mapping, got null']);
    assert.deepEqual(problems('\u0000\u0001\u0002'), ['gpumod.yaml:1:1: the file contains NUL bytes: expected YAML text']);
    assert.deepEqual(problems('- a\n- b\n'), ['gpumod.yaml:1:1: the file: expected a mapping, got a list']);
  });

  it('loads from disk and reports a missing file as a problem, not a throw', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpumod-cfg-'));
    const missing = await loadConfig(join(dir, 'nope.yaml'));
    assert.equal(missing.ok, false);
    writeFileSync(join(dir, 'g.yaml'), SAMPLE);
    assert.equal((await loadConfig(join(dir, 'g.yaml'))).ok, true);
  });
});

describe('config loader: names from the file are data, never object properties', () => {
  const PROTO = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

  it('validates a service named like an Object property like any other', () => {
    const text = 'services:\n  constructor:\n    driver: bogus\n    unit: "-x; rm -rf ~"\n    port: "eighty"\n    vram_mb: -5\nmodes: {}\n';
    assert.deepEqual(problems(text), [
      'gpumod.yaml:3:13: driver: "bogus" is not one of "vllm", "llamacpp", "http", "systemd"',
      'gpumod.yaml:4:11: unit: "-x; rm -rf ~" is not a systemd unit name ending in .service (letters, digits and :_.@- only; no spaces, slashes or leading dash)',
      'gpumod.yaml:5:11: port: expected a whole number, got "eighty"',
      'gpumod.yaml:6:14: vram_mb: -5 is below the minimum 0',
    ]);
  });

  it('locates every problem under prototype-named services, modes and top-level keys', () => {
    for (const name of PROTO) {
      const bad = problems(`services:\n  ${name}: { driver: ${name}, unit: a.service, port: 1, vram_mb: 1 }\nmodes:\n  ${name}: { services: 5 }\n${name}: 1\n`);
      const expectName = name === '__proto__' ? [`gpumod.yaml:2:3: "__proto__" is not a valid name`, `gpumod.yaml:4:3: "__proto__" is not a valid name`] : [
        `gpumod.yaml:2:${15 + name.length}: driver: "${name}" is not one of`,
        `gpumod.yaml:4:${17 + name.length}: services: expected a list, got 5`,
      ];
      assert.equal(bad.length, 3, `${name}: ${bad.join('\n')}`);
      expectName.forEach((e, i) => assert.ok(bad[i].startsWith(e), `${name}: ${bad[i]}`));
      assert.ok(bad[2].startsWith(`gpumod.yaml:5:1: unknown key "${name}" in the file`), bad[2]);
    }
  });

  it('loads well-formed services and modes named like Object properties', () => {
    const names = PROTO.filter((n) => n !== '__proto__');
    const svcs = names.map((n, i) => `  ${n}: { driver: vllm, unit: ${n}.service, port: ${7000 + i}, vram_mb: 100 }\n`).join('');
    const c = ok(`services:\n${svcs}modes:\n${names.map((n) => `  ${n}: { services: [${n}] }\n`).join('')}`);
    assert.deepEqual([...c.services.keys()], names);
    assert.equal(c.services.get('constructor')?.vramMb, 100);
    assert.deepEqual(c.modes.get('toString')?.services, ['toString']);
    assert.match(problems('services: {}\nmodes:\n  m: { services: [constructor, toString] }\n')[0], /mode "m" names unknown service "constructor"/);
  });

  it('says what a sleep setting may be when it is neither a level nor hooks', () => {
    assert.deepEqual(problems(ONE(`${VLLM}\n    sleep: 5`)), ['gpumod.yaml:7:12: sleep: expected "none", "l1", "l2", "router" or a hooks mapping, got 5']);
    assert.deepEqual(problems(ONE(`${VLLM.replace('vllm', 'http')}\n    sleep: { sleep: "POST /s", wake: "x" }`)), [
      'gpumod.yaml:7:12: sleep: missing required key "probe"',
      'gpumod.yaml:7:38: wake: "x" is not a method and a path, such as "POST /unload"',
    ]);
  });
});

describe('config loader: bounds and locations', () => {
  it('locates a problem reached through an alias or a merge key where the alias is written', () => {
    const text = [
      'services:',
      '  a: &a { driver: vllm, unit: a.service, port: 7000, vram_mb: 1, host: 10.0.0.1 }',
      '  b: *a',
      '  c: { <<: *a, unit: c.service }',
      'modes: {}',
      '',
    ].join('\n');
    assert.deepEqual(problems(text).map((p) => p.replace(/: host .*/, '')), ['gpumod.yaml:2:72', 'gpumod.yaml:3:6', 'gpumod.yaml:4:12']);
  });

  it('keeps the nesting guard on after an apostrophe, in a comment or in a plain scalar', () => {
    for (const before of ["# it's\n", "description: it's\n", 'x: "\\"\'"\n']) {
      const t0 = Date.now();
      const [p] = problems(`${before}a: ${'['.repeat(100000)}`);
      assert.match(p, /^gpumod\.yaml:2:68: nesting deeper than 64 levels/, JSON.stringify(before));
      assert.ok(Date.now() - t0 < 500);
    }
    assert.match(problems(`x: '${'['.repeat(300)}`)[0], /^gpumod\.yaml:1:261: more than 256 nested brackets/, 'an unclosed quote never hides brackets');
    const quoted = ok(`services:\n  a: { driver: vllm, unit: a.service, port: 7000, vram_mb: 1, description: "it's [[[ # not a comment" } # it's\nmodes: {}\n`);
    assert.equal(quoted.services.get('a')?.description, "it's [[[ # not a comment");
  });

  it('refuses hosts a URL cannot carry, and matches IPv6 hosts with or without brackets', () => {
    for (const host of ['127.999.999.999', '"127.1"', '0x7f.1', '"2130706433"', '"[fd00::1"', 'fd00::zz']) {
      assert.match(problems(ONE(`${VLLM}\n    host: ${host}`))[0], /^gpumod\.yaml:7:11: host ".*" is not a host name or IP address a URL can carry/, host);
    }
    assert.match(problems(`allowed_hosts: [10.0.0.300]\n${ONE(VLLM)}`)[0], /^gpumod\.yaml:1:17: allowed_hosts entry "10\.0\.0\.300" is not a host name/);
    for (const [allowed, host] of [['"[fd00::1]"', '"[fd00::1]"'], ['fd00::1', '"[FD00:0::1]"'], ['"[fd00::1]"', 'fd00:0:0::1'], ['GPU-Box.lan', 'gpu-box.LAN']]) {
      assert.equal(ok(`allowed_hosts: [${allowed}]\n${ONE(`${VLLM}\n    host: ${host}`)}`).services.size, 1, `${allowed} allows ${host}`);
    }
    assert.equal(ok(ONE(`${VLLM}\n    host: "[::1]"`)).services.get('a')?.host, '[::1]');
  });
});
