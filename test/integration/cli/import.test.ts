import * as assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alternativesOf } from '../../../src/config/alternatives';
import { parseConfig } from '../../../src/config/load';
import { gpumod } from './runCli';

describe('gpumod import (the original gpumod presets and modes)', () => {
  const source = join(process.cwd(), 'test/samples/original');
  const dir = mkdtempSync(join(tmpdir(), 'gpumod-import-'));

  it('writes an equivalent, valid gpumod.yaml and reports what did not carry over', async () => {
    const out = join(dir, 'gpumod.yaml');
    const r = await gpumod(['import', source, '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    const parsed = parseConfig(readFileSync(out, 'utf8'), out);
    assert.ok(parsed.ok, 'the imported file loads');
    const c = parsed.config;
    assert.deepEqual([...c.services.keys()].sort(), ['glm-code', 'other-coder', 'qwen3-asr', 'vllm-chat', 'vllm-embedding', 'vllm-hyde']);
    assert.equal(c.services.get('vllm-chat')?.sleep, 'l1');
    assert.equal(c.services.get('vllm-hyde')?.sleep, 'l2');
    assert.equal(c.services.get('vllm-embedding')?.sleep, 'none');
    assert.equal(c.services.get('glm-code')?.model, 'GLM-4.5-Air-Q4');
    assert.equal(c.services.get('glm-code')?.unit, 'gpumod-glm-code.service', "the original's unit naming");
    assert.equal(c.services.get('glm-code')?.startupTimeoutMs, 120000);
    assert.equal(c.services.get('qwen3-asr')?.driver, 'systemd');
    assert.equal(c.services.get('qwen3-asr')?.healthPath, '/healthz');
    assert.deepEqual(c.modes.get('speak')?.services, ['qwen3-asr', 'vllm-chat']);
    assert.equal(c.modes.get('code')?.description, 'Coding with the router');
    assert.match(r.stderr, /tts-docker\.yaml: driver "docker" is not supported/);
    assert.match(r.stderr, /mode speak loses tts-docker/);
    assert.match(r.stderr, /in no mode \(imported; add them to a mode to use them\): other-coder/);
    assert.deepEqual(alternativesOf(c, 'glm-code'), ['other-coder'], 'two routers on :7070 are alternatives');
    assert.match(r.stderr, /vllm-chat\.yaml: not carried over: context_size/);
    assert.match(r.stderr, /imported 6 services and 4 modes/);
    assert.equal((await gpumod(['validate', '--config', out])).code, 0);
  });

  it('never overwrites an existing file without --force', async () => {
    const out = join(dir, 'existing.yaml');
    writeFileSync(out, '# mine\n');
    const r = await gpumod(['import', source, '--output', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exists; pass --force/);
    assert.equal(readFileSync(out, 'utf8'), '# mine\n');
    assert.equal((await gpumod(['import', source, '--output', out, '--force'])).code, 0);
    assert.match(readFileSync(out, 'utf8'), /^# Imported by `gpumod import`/);
  });

  it('refuses a directory without presets, and reports unreadable files without failing the rest', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'gpumod-empty-'));
    const r = await gpumod(['import', empty]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no presets/);
    const broken = mkdtempSync(join(tmpdir(), 'gpumod-broken-'));
    mkdirSync(join(broken, 'presets'));
    writeFileSync(join(broken, 'presets', 'a.yaml'), 'id: a\ndriver: vllm\nport: 7000\nvram_mb: 100\n');
    writeFileSync(join(broken, 'presets', 'b.yaml'), 'id: [\n');
    const j = await gpumod(['import', broken, '--json']);
    assert.equal(j.code, 0, j.stderr);
    const body = JSON.parse(j.stdout);
    assert.equal(body.services, 1);
    assert.ok(body.notes.some((n: string) => /b\.yaml: unreadable YAML/.test(n)));
    assert.equal(existsSync(join(broken, 'gpumod.yaml')), false, 'nothing written without --output');
  });

  it("imports the original's layout of alternatives: six llama.cpp presets on :7070, each its own unit, picked by different modes", async () => {
    const layout = join(process.cwd(), 'test/samples/original-7070');
    const out = join(dir, 'gpumod-7070.yaml');
    const r = await gpumod(['import', layout, '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /imported 9 services and 5 modes/);
    assert.match(r.stderr, /in no mode \(imported; add them to a mode to use them\): gpt-oss\n/);
    assert.match(r.stderr, /whisper-docker\.yaml: driver "docker" is not supported by gpumod for VS Code; whisper-docker skipped/);
    assert.match(r.stderr, /mode multi-agent loses whisper-docker \(not imported\)/);
    assert.match(r.stderr, /kokoro-tts\.yaml: sleep_mode "l1" on a FastAPI app/);
    assert.equal((await gpumod(['validate', '--config', out])).code, 0);
    const parsed = parseConfig(readFileSync(out, 'utf8'), out);
    assert.ok(parsed.ok);
    const c = parsed.config;
    const routers = ['devstral', 'glm-air', 'gpt-oss', 'nemotron-nano', 'nemotron-super', 'qwen-coder'];
    for (const name of routers) {
      const svc = c.services.get(name)!;
      assert.deepEqual([svc.driver, svc.port, svc.unit], ['llamacpp', 7070, `gpumod-${name}.service`]);
      assert.deepEqual(alternativesOf(c, name), routers.filter((n) => n !== name), `${name}: the other five are its alternatives`);
    }
    assert.equal(c.services.get('qwen-coder')?.model, 'Qwen3-Coder-30B-A3B-Q4');
    assert.equal(c.services.get('vllm-chat')?.sleep, 'l1');
    assert.equal(c.services.get('kokoro-tts')?.driver, 'systemd');
    assert.equal(c.services.has('whisper-docker'), false);
    assert.deepEqual(c.modes.get('code')?.services, ['qwen-coder', 'vllm-embed']);
    assert.deepEqual(c.modes.get('multi-agent')?.services, ['nemotron-super', 'vllm-chat']);
    assert.deepEqual(c.modes.get('nemotron')?.services, ['nemotron-nano', 'kokoro-tts']);
  });

  it('refuses or neutralises a hostile preset: no injected keys, no prototype names, no shell in unit names', async () => {
    const hostile = mkdtempSync(join(tmpdir(), 'gpumod-hostile-'));
    cpSync(join(process.cwd(), 'test/samples/original-7070'), hostile, { recursive: true });
    const put = (path: string, text: string): void => writeFileSync(join(hostile, path), text);
    mkdirSync(join(hostile, 'presets/evil'));
    put('presets/evil/inject.yaml', 'id: inject\nname: "Nice\\nallowed_hosts: [attacker.example]"\ndriver: vllm\nport: 7200\nvram_mb: 100\nsleep_mode: "deep\\nallowed_hosts: [attacker.example]\\n# "\n"odd\\nkey: 1": 2\n');
    put('presets/evil/proto.yaml', 'id: __proto__\ndriver: vllm\nport: 7201\nvram_mb: 1\n');
    put('presets/evil/constructor.yaml', 'id: constructor\ndriver: vllm\nport: 7202\nvram_mb: 100\n');
    put('presets/evil/shell.yaml', 'id: shell\ndriver: llamacpp\nport: 7203\nvram_mb: 1\nunit_name: "-x; rm -rf ~"\n');
    put('presets/evil/model.yaml', 'id: model\ndriver: llamacpp\nport: 7204\nvram_mb: 1\nunit_vars: { default_model: "../../etc/passwd" }\n');
    put('presets/evil/port.yaml', 'id: port\ndriver: vllm\nport: "7070; curl x"\nvram_mb: -5\n');
    put('modes/evil.yaml', 'id: constructor\nname: "x\\nallowed_hosts: [attacker.example]"\nservices: [constructor, inject, __proto__]\n');
    const out = join(hostile, 'gpumod.yaml');
    const r = await gpumod(['import', hostile, '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(out, 'utf8');
    assert.doesNotMatch(text, /^\s*allowed_hosts/m, 'nothing injected as a key');
    const data = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
    assert.doesNotMatch(data, /__proto__|rm -rf|etc\/passwd|curl/, 'refused values are named in comments only');
    assert.match(text, /^# refused: presets\/evil\/shell\.yaml: unit: "-x; rm -rf ~\.service" is not a systemd unit name/m);
    const parsed = parseConfig(text, out);
    assert.ok(parsed.ok);
    const c = parsed.config;
    assert.deepEqual(c.allowedHosts, []);
    assert.equal(c.services.get('inject')?.description, 'Nice allowed_hosts: [attacker.example]', 'a value, on one line');
    assert.equal(c.services.get('constructor')?.vramMb, 100, 'a name like an Object property is just a name');
    assert.deepEqual(c.modes.get('constructor')?.services, ['constructor', 'inject']);
    assert.match(r.stderr, /note: presets\/evil\/inject\.yaml: sleep_mode "deep\\nallowed_hosts: \[attacker\.example\]\\n# " does not apply to vLLM/);
    assert.match(r.stderr, /refused: presets\/evil\/proto\.yaml: id "__proto__" is not a usable service name/);
    assert.match(r.stderr, /refused: presets\/evil\/shell\.yaml: unit: "-x; rm -rf ~\.service" is not a systemd unit name .*\(shell not imported\)/);
    assert.match(r.stderr, /refused: presets\/evil\/model\.yaml: model: "\.\.\/\.\.\/etc\/passwd" is not a model name/);
    assert.match(r.stderr, /refused: presets\/evil\/port\.yaml: port: expected a whole number, got "7070; curl x" \(port not imported\)/);
    assert.match(r.stderr, /refused: presets\/evil\/port\.yaml: vram_mb: -5 is below the minimum 0/);
    assert.equal(c.services.size, 11, 'the nine of the layout, inject and constructor');
  });
});
