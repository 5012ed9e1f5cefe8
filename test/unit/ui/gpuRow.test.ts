import * as assert from 'node:assert/strict';
import { gpuRowModels } from '../../../src/ui/gpuRow';
import { look, machine, profileConfig } from '../engine/profile';

describe('the services view\'s GPU row', () => {
  it('used/total as its description, the card as a text bar in its tooltip', async () => {
    const config = profileConfig();
    const obs = await look(machine(32, 'code'));
    const [row] = gpuRowModels({ configState: 'ok', config, observation: obs, drift: [] });
    const g = obs.gpu.available ? obs.gpu.gpus[0] : undefined;
    assert.equal(row.label, 'GPU 0');
    assert.equal(row.description, `${((g?.usedMb ?? 0) / 1000).toFixed(1)}/${((g?.totalMb ?? 0) / 1000).toFixed(1)} GB`);
    assert.match(row.tooltip, /`█+[▓▒·]*`/);
    assert.match(row.tooltip, /glm-code [\d.]+ GB awake/);
    assert.match(row.accessible, /^GPU 0, .*, [\d.]+\/[\d.]+ GB used$/);
  });

  it('says when the GPU is not visible, and shows nothing before the first observation', () => {
    const config = profileConfig();
    const obs = { at: 0, services: new Map(), gpu: { available: false as const, reason: 'nvidia-smi: *not* found' }, foreignMb: new Map() };
    const [row] = gpuRowModels({ configState: 'ok', config, observation: obs, drift: [] });
    assert.equal(row.description, 'not visible');
    assert.equal(row.tooltip, 'nvidia-smi: \\*not\\* found');
    assert.deepEqual(gpuRowModels({ configState: 'ok', config, drift: [] }), []);
  });
});
