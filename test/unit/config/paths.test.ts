import * as assert from 'node:assert/strict';
import { defaultConfigPath, resolveConfigPath, stateDir } from '../../../src/config/paths';

describe('config paths', () => {
  it('defaults to ~/.config/gpumod/gpumod.yaml and respects XDG_CONFIG_HOME', () => {
    assert.equal(defaultConfigPath({ HOME: '/h' }), '/h/.config/gpumod/gpumod.yaml');
    assert.equal(defaultConfigPath({ HOME: '/h', XDG_CONFIG_HOME: '/x' }), '/x/gpumod/gpumod.yaml');
  });

  it('prefers the explicit path, then GPUMOD_CONFIG, and expands ~', () => {
    const env = { HOME: '/h', GPUMOD_CONFIG: '/env.yaml' };
    assert.equal(resolveConfigPath('~/g.yaml', env), '/h/g.yaml');
    assert.equal(resolveConfigPath(undefined, env), '/env.yaml');
    assert.equal(resolveConfigPath('  ', { HOME: '/h' }), '/h/.config/gpumod/gpumod.yaml');
  });

  it('keeps state under XDG_STATE_HOME', () => {
    assert.equal(stateDir({ HOME: '/h' }), '/h/.local/state/gpumod');
    assert.equal(stateDir({ XDG_STATE_HOME: '/s' }), '/s/gpumod');
  });
});
