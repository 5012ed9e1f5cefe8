import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../../src/config/load';
import { scratchDir } from '../support/testManager';

/**
 * A config fuzzer: mutates valid files (types, unknown keys, huge values, unicode, duplicate keys,
 * alias bombs, deep nesting, empty and binary input) and checks that the loader never throws, never
 * hangs, and answers each bad input with located messages. Deterministic: a seeded generator, so a
 * failure names a case that reproduces.
 */

const CASES = Number(process.env.GPUMOD_FUZZ_CASES ?? 5000);
const SEED = Number(process.env.GPUMOD_FUZZ_SEED ?? 20261127);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASES = [
  readFileSync(join(process.cwd(), 'test/samples/workstation.yaml'), 'utf8'),
  'services:\n  a: { driver: vllm, unit: a.service, port: 7000, vram_mb: 100, sleep: l1 }\nmodes:\n  m: { services: [a] }\n',
];

const VALUES = ['-1', '0', '1e309', '99999999999999999999', '"x"', 'null', '~', '[]', '{}', 'true', '"ünïcödé ☃"', '"\\u202e.service"', '"$(id)"', '"a;b"', '"../x"', '"-rf"', '"' + 'x'.repeat(5000) + '"', '.nan', '0x10', '!!binary aGVsbG8=', '&anc 3', '*nope'];
/** Names that are properties of every JS object: a checker that looks keys up with `in` takes them as known. */
const PROTO = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
const KEYS = ['driver', 'unit', 'port', 'vram_mb', 'sleep', 'model', 'host', 'services', 'modes', 'bogus', '<<', 'ünï', '"a b"', '-x', ...PROTO];

type Mutator = (text: string, r: () => number) => string;
const pick = <T>(xs: T[], r: () => number): T => xs[Math.floor(r() * xs.length)];

const MUTATORS: [string, Mutator][] = [
  ['replace a value', (t, r) => {
    const lines = t.split('\n');
    const i = Math.floor(r() * lines.length);
    lines[i] = lines[i].replace(/:\s*[^{\s][^,}]*$/, `: ${pick(VALUES, r)}`);
    return lines.join('\n');
  }],
  ['insert a key', (t, r) => {
    const lines = t.split('\n');
    const i = Math.floor(r() * lines.length);
    const indent = (lines[i].match(/^\s*/) ?? [''])[0];
    lines.splice(i, 0, `${indent}${pick(KEYS, r)}: ${pick(VALUES, r)}`);
    return lines.join('\n');
  }],
  ['duplicate a line', (t, r) => {
    const lines = t.split('\n');
    const i = Math.floor(r() * lines.length);
    lines.splice(i, 0, lines[i]);
    return lines.join('\n');
  }],
  ['delete a line', (t, r) => {
    const lines = t.split('\n');
    lines.splice(Math.floor(r() * lines.length), 1);
    return lines.join('\n');
  }],
  ['flip a byte', (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + String.fromCharCode(Math.floor(r() * 0x3000)) + t.slice(i + 1);
  }],
  ['truncate', (t, r) => t.slice(0, Math.floor(r() * t.length))],
  ['re-indent', (t, r) => t.replace(/^ {2}/gm, () => (r() < 0.3 ? ' ' : '  '))],
  ['alias bomb', () => {
    const lines = ['a: &a [x,x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 10; i++) lines.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(',')}]`);
    return lines.join('\n') + '\nservices: {}\nmodes: {}\n';
  }],
  ['deep nesting', (_t, r) => `${'['.repeat(200 + Math.floor(r() * 2000))}`],
  ['deep mapping', (_t, r) => {
    const depth = 50 + Math.floor(r() * 300);
    return Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n';
  }],
  ['binary garbage', (_t, r) => Array.from({ length: 1 + Math.floor(r() * 400) }, () => String.fromCharCode(Math.floor(r() * 256))).join('')],
  ['empty', (_t, r) => (r() < 0.5 ? '' : '\n\n   \n')],
  ['huge list', (_t, r) => `services: {}\nmodes:\n  m: { services: [${Array(300 + Math.floor(r() * 300)).fill('a').join(',')}] }\n`],
  ['merge key', (t) => t.replace('services:', 'defaults: &d { driver: vllm }\nservices:')],
  ['prototype name', (t, r) => {
    const name = pick(PROTO, r);
    const where = r();
    // As a service (with a bad value half of the time), a mode, or a top-level key.
    if (where < 0.4) {
      const bad = r() < 0.5 ? pick(['driver: bogus', 'port: "eighty"', 'vram_mb: -5', 'unit: "-x; rm -rf ~"', `driver: ${name}`], r) : 'driver: vllm';
      return t.replace(/^services:.*$/m, `services:\n  ${name}: { ${bad.startsWith('driver') ? '' : 'driver: vllm, '}unit: p.service, port: 7999, vram_mb: 10, ${bad} }`);
    }
    if (where < 0.8) return t.replace(/^modes:.*$/m, `modes:\n  ${name}: { services: ${pick(['5', '[a]', '[]', `[${name}]`, '{}'], r)} }`);
    return `${name}: ${pick(VALUES, r)}\n${t}`;
  }],
];

describe('config fuzzer', function () {
  this.timeout(120000);

  it(`answers ${CASES} mutated files with located messages, never a throw or a hang`, () => {
    const r = rng(SEED);
    const byMutator = new Map<string, number>();
    let rejected = 0;
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const [name, mutate] = MUTATORS[i % MUTATORS.length];
      let text = pick(BASES, r);
      const rounds = 1 + Math.floor(r() * 3);
      for (let k = 0; k < rounds; k++) text = mutate(text, r);
      const t0 = Date.now();
      let result;
      try {
        result = parseConfig(text, 'fuzz.yaml');
      } catch (e) {
        assert.fail(`case ${i} (${name}, seed ${SEED}) threw ${(e as Error).stack}\n--- input ---\n${text.slice(0, 500)}`);
      }
      const ms = Date.now() - t0;
      slowest = Math.max(slowest, ms);
      assert.ok(ms < 2000, `case ${i} (${name}) took ${ms} ms`);
      byMutator.set(name, (byMutator.get(name) ?? 0) + 1);
      if (!result.ok) {
        rejected++;
        assert.ok(result.problems.length > 0, `case ${i}: rejected without a problem`);
        for (const p of result.problems) {
          assert.ok(Number.isInteger(p.line) && p.line >= 1 && Number.isInteger(p.col) && p.col >= 1, `case ${i}: bad position ${JSON.stringify(p)}`);
          assert.ok(p.message.length > 5 && p.message.length < 2000, `case ${i}: message ${JSON.stringify(p.message.slice(0, 100))}`);
          assert.doesNotMatch(p.message, /undefined|\[object Object\]|TypeError/, `case ${i}: imprecise message ${p.message}`);
        }
      } else {
        // Whatever is accepted is whole: every mode names configured services, every figure is one.
        for (const m of result.config.modes.values()) for (const s of m.services) assert.ok(result.config.services.has(s), `case ${i}: mode names ${s}`);
        for (const svc of result.config.services.values()) {
          assert.ok(['vllm', 'llamacpp', 'http', 'systemd'].includes(svc.driver), `case ${i}: driver ${String(svc.driver)}`);
          assert.ok(Number.isInteger(svc.port) && svc.port >= 1 && svc.port <= 65535, `case ${i}: port ${String(svc.port)}`);
          assert.ok(Number.isInteger(svc.vramMb) && svc.vramMb >= 0, `case ${i}: vram_mb ${String(svc.vramMb)}`);
          assert.match(svc.unit, /^[A-Za-z0-9_][A-Za-z0-9:_.@\\-]*\.service$/, `case ${i}: unit`);
        }
      }
    }
    console.log(`      fuzz: ${CASES} cases (seed ${SEED}), ${rejected} rejected with located messages, ${CASES - rejected} accepted whole, slowest ${slowest} ms`);
  });

  it('answers special files at once with a located problem: FIFO, devices, a directory, links to them, oversized', async () => {
    const dir = mkdtempSync(join(scratchDir(), 'fuzz-files-'));
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    mkdirSync(join(dir, 'dir.yaml'));
    symlinkSync('/dev/zero', join(dir, 'zero-link.yaml'));
    symlinkSync(fifo, join(dir, 'fifo-link.yaml'));
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    writeFileSync(join(dir, 'binary.yaml'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256)));
    const files = ['/dev/zero', '/dev/urandom', fifo, join(dir, 'dir.yaml'), join(dir, 'zero-link.yaml'), join(dir, 'fifo-link.yaml'), join(dir, 'big.yaml'), join(dir, 'binary.yaml')];
    for (const f of files) {
      const t0 = Date.now();
      const r = await loadConfig(f);
      const ms = Date.now() - t0;
      assert.ok(ms < 2000, `${f} took ${ms} ms`);
      assert.equal(r.ok, false, `${f} was accepted`);
      if (r.ok) continue;
      for (const p of r.problems) {
        assert.ok(p.line >= 1 && p.col >= 1, `${f}: bad position ${JSON.stringify(p)}`);
        assert.doesNotMatch(p.message, /undefined|\[object Object\]|TypeError/, `${f}: ${p.message}`);
      }
    }
  });
});
