import * as assert from 'node:assert/strict';
import { checkFootprint } from '../../../src/cli/footprintCheck';
import { service } from '../engine/profile';

const chat = service('chat', { driver: 'vllm', sleep: 'l1', vram: 7000, residue: 1500, ram: 4500 }, 7071);

describe('doctor: declared memory against measured footprints', () => {
  it('warns of a declaration more than 20% off what was measured, with the figure and the fix', () => {
    const fs = checkFootprint(chat, { vram: { awake: 9000, l1: 1550 }, ram: { l1: 4600 } });
    assert.equal(fs.length, 1);
    const f = fs[0];
    assert.deepEqual([f.check, f.ok, f.severity], ['footprint', false, 'warning']);
    assert.match(f.message, /^vram_mb 7000 is 22% below what gpumod measured awake: 9000 MB \(9\.0 GB\)/);
    assert.equal(f.fix, 'set vram_mb: 9000 for chat in gpumod.yaml, or remove vram_mb and let gpumod use what it measures');
  });

  it('checks the residue and host RAM at the configured depth; a figure left to its default is not a declaration', () => {
    const residue = checkFootprint(chat, { vram: { l1: 3000 }, ram: {} });
    assert.match(residue[0].message, /^sleep_vram_mb 1500 is 50% below what gpumod measured asleep \(l1\): 3000 MB/);
    assert.deepEqual(checkFootprint({ ...chat, undeclared: ['sleep_vram_mb'] }, { vram: { l1: 3000 }, ram: {} }).map((f) => f.ok), [true]);
    assert.match(checkFootprint(chat, { vram: {}, ram: { l1: 9000 } })[0].fix ?? '', /^set sleep_ram_mb: 9000/);
  });

  it('passes within 20%, and says nothing without a measurement', () => {
    assert.deepEqual(checkFootprint(chat, { vram: { awake: 7600 }, ram: {} }).map((f) => [f.ok, f.severity]), [[true, 'info']]);
    assert.deepEqual(checkFootprint(chat, undefined), []);
  });
});
