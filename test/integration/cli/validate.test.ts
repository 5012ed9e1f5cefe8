import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpumod } from './runCli';

describe('gpumod validate (the CLI as a process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpumod-cli-'));
  const good = join(process.cwd(), 'test/samples/workstation.yaml');
  const bad = join(dir, 'BAD.yaml');
  writeFileSync(bad, 'services:\n  a:\n    driver: vllm\n    unit: a.service\n    port: 0\n    vram_mb: -1\nmodes:\n  m: { services: [b] }\n');

  it('exits 0 on a valid file', async () => {
    const r = await gpumod(['validate', '--config', good]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid \(8 services, 4 modes\)/);
  });

  it('prints FILE:LINE:COL for each problem and exits 2', async () => {
    const r = await gpumod(['validate', '--config', bad]);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines, [
      `${bad}:5:11: port: 0 is below the minimum 1`,
      `${bad}:6:14: vram_mb: -1 is below the minimum 0`,
      `${bad}:8:19: mode "m" names unknown service "b" (configured: a)`,
      `3 problems in ${bad}`,
    ]);
  });

  it('checks services and modes named like Object properties (constructor, toString) like any other', async () => {
    const proto = join(dir, 'proto.yaml');
    writeFileSync(proto, 'services:\n  constructor:\n    driver: bogus\n    unit: "-x; rm -rf ~"\n    port: "eighty"\n    vram_mb: -5\nmodes:\n  toString: { services: 5 }\n');
    const r = await gpumod(['validate', '--config', proto]);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines.slice(0, -1).map((l) => l.slice(proto.length + 1).split(': ')[0]), ['3:13', '4:11', '5:11', '6:14', '8:25']);
    assert.equal(lines[4], `${proto}:8:25: services: expected a list, got 5`);
    assert.equal(lines[5], `5 problems in ${proto}`);
  });

  it('finds the file through GPUMOD_CONFIG, then XDG_CONFIG_HOME', async () => {
    assert.equal((await gpumod(['validate'], { GPUMOD_CONFIG: good })).code, 0);
    const r = await gpumod(['validate'], { XDG_CONFIG_HOME: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${dir}/gpumod/gpumod.yaml:1:1: cannot read the config: no such file`));
  });

  it('answers --json, --help and --version, and refuses unknown commands and options with exit 2', async () => {
    const j = await gpumod(['validate', '--json', '--config', bad]);
    assert.equal(j.code, 2);
    assert.equal(JSON.parse(j.stdout).problems.length, 3);
    assert.match((await gpumod(['--help'])).stdout, /Usage: gpumod COMMAND/);
    assert.match((await gpumod(['--version'])).stdout, /^\d+\.\d+\.\d+\n$/);
    const unknown = await gpumod(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const typo = await gpumod(['validate', '--confg', good]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown option --confg/);
  });
});
