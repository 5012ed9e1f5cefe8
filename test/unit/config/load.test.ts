import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('refuses duplicate ports, except two models of one llama.cpp router', () => {
    const two = (b: string): string => `services:\n  a:\n${VLLM}\n  b:\n${b}\nmodes: {}\n`;
    assert.deepEqual(problems(two('    driver: vllm\n    unit: b.service\n    port: 7000\n    vram_mb: 1')), [
      'gpumod.yaml:10:11: port 7000 is already used by service "a"',
    ]);
    const router = (name: string, model: string): string =>
      `  ${name}:\n    driver: llamacpp\n    unit: r.service\n    port: 7070\n    vram_mb: 1\n    model: ${model}\n`;
    const c = ok(`services:\n${router('x', 'X')}${router('y', 'Y')}modes: {}\n`);
    assert.equal(c.services.size, 2);
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
    assert.match(problems('services: {}\nmodes: {}\nmodes: {}\n')[0], /^gpumod\.yaml:3:1: Map keys must be unique/);
  });

  it('refuses an alias bomb without expanding it', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
    const t0 = Date.now();
    assert.match(problems(lines.join('\n') + '\n')[0], /^gpumod\.yaml:1:1: cannot expand the YAML: .*alias/i);
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
