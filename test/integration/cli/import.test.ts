import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    assert.deepEqual([...c.services.keys()].sort(), ['glm-code', 'qwen3-asr', 'vllm-chat', 'vllm-embedding', 'vllm-hyde']);
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
    assert.match(r.stderr, /other-coder shares port 7070 with glm-code and is in no mode; skipped/);
    assert.match(r.stderr, /vllm-chat\.yaml: not carried over: context_size/);
    assert.match(r.stderr, /imported 5 services and 4 modes/);
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
});
