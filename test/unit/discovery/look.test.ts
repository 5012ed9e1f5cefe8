import * as assert from 'node:assert/strict';
import { hooksFromLooks, hooksFromRoutes, openApiRoutes } from '../../../src/discovery/appHooks';
import { environmentFilePaths, measuredBy, modelsDirEntries, originOf, presetModels, workingDirectory } from '../../../src/discovery/detect';
import { parseEnvironment, parseEnvironmentFile } from '../../../src/discovery/shellWords';
import type { GpuSnapshot } from '../../../src/engine/machinePorts';
import { parseShow, parseUnitList } from '../../../src/system/systemd';

describe('discovery: reading what the machine says', () => {
  it('systemctl listings: the unit and its state, headers, bullets and other unit types left out', () => {
    const files = 'vllm-chat.service    enabled   enabled\nllama@.service disabled -\nsockets.target static -\napp-print\\x2dapplet@autostart.service generated -\n';
    assert.deepEqual(parseUnitList(files), [
      { unit: 'vllm-chat.service', state: 'enabled' },
      { unit: 'llama@.service', state: 'disabled' },
      { unit: 'app-print\\x2dapplet@autostart.service', state: 'generated' },
    ]);
    assert.deepEqual(parseUnitList('● gone.service not-found inactive dead gone.service\n'), [{ unit: 'gone.service', state: 'not-found' }]);
  });

  it('a property printed on several lines keeps every value', () => {
    const m = parseShow('EnvironmentFiles=/a.env (ignore_errors=yes)\nEnvironmentFiles=/b c.env (ignore_errors=no)\nId=x.service\n');
    assert.deepEqual(environmentFilePaths(m.get('EnvironmentFiles')), ['/a.env', '/b c.env']);
  });

  it('Environment= as systemctl prints it, and EnvironmentFile text', () => {
    assert.deepEqual(parseEnvironment('"A=1 2" B=x VLLM_SERVER_DEV_MODE=1 "C=quote\\"d"'), { A: '1 2', B: 'x', VLLM_SERVER_DEV_MODE: '1', C: 'quote"d' });
    assert.deepEqual(parseEnvironmentFile('# comment\nexport HF_HOME=/srv/hf\nVLLM_SERVER_DEV_MODE="1"\n\nbad line\n;also\nX=\'y z\'\n'), { HF_HOME: '/srv/hf', VLLM_SERVER_DEV_MODE: '1', X: 'y z' });
  });

  it('where a unit comes from, and its working directory', () => {
    assert.equal(originOf(new Map([['FragmentPath', '/home/u/.config/systemd/user/a.service']])), 'yours');
    assert.equal(originOf(new Map([['FragmentPath', '/usr/lib/systemd/user/pipewire.service']])), 'package');
    assert.equal(originOf(new Map([['Transient', 'yes']])), 'transient');
    assert.equal(originOf(new Map([['FragmentPath', '/run/user/1000/systemd/generator.late/app-x.service']])), 'generated');
    assert.equal(workingDirectory('!/srv/app', '/home/u'), '/srv/app');
    assert.equal(workingDirectory('-~', '/home/u'), '/home/u');
    assert.equal(workingDirectory('', '/home/u'), undefined);
  });

  it('a router\'s models from its models dir (files and folders, projectors and later shards left out) and its preset', () => {
    const top = [
      { name: 'Qwen3-8B-Q4_K_M.gguf', dir: false, bytes: 5_000_000_000 },
      { name: 'mmproj-x.gguf', dir: false, bytes: 1 },
      { name: 'big-00001-of-00002.gguf', dir: false, bytes: 10 },
      { name: 'big-00002-of-00002.gguf', dir: false, bytes: 10 },
      { name: 'gemma-3', dir: true, bytes: 0 },
      { name: 'empty', dir: true, bytes: 0 },
      { name: 'README.md', dir: false, bytes: 5 },
    ];
    const sub = new Map([
      ['gemma-3', [{ name: 'gemma-3-Q4.gguf', dir: false, bytes: 3000 }, { name: 'mmproj-gemma.gguf', dir: false, bytes: 500 }]],
      ['empty', []],
    ]);
    assert.deepEqual(modelsDirEntries(top, sub), [
      { name: 'big-00001-of-00002', source: 'models-dir', bytes: 10 },
      { name: 'gemma-3', source: 'models-dir', bytes: 3000 },
      { name: 'Qwen3-8B-Q4_K_M', source: 'models-dir', bytes: 5_000_000_000 },
    ]);
    assert.deepEqual(presetModels('[*]\nctx-size = 4096\n\n[qwen3-8b]\nmodel = /m/q.gguf\n[ gemma ]\n'), ['qwen3-8b', 'gemma']);
  });

  it('memory by unit on the GPU where most of it is, other GPUs named', () => {
    const snap: GpuSnapshot = {
      available: true,
      ms: 1,
      gpus: [
        { index: 0, uuid: 'a', name: 'x', totalMb: 100, usedMb: 0, freeMb: 0, processes: [{ pid: 1, usedMb: 300, unit: 'a.service' }, { pid: 2, usedMb: undefined, unit: 'a.service' }, { pid: 3, usedMb: 50, unit: 'b.service' }] },
        { index: 1, uuid: 'b', name: 'x', totalMb: 100, usedMb: 0, freeMb: 0, processes: [{ pid: 4, usedMb: 900, unit: 'a.service' }] },
      ],
    };
    assert.deepEqual(measuredBy(snap, (p) => p.unit === 'a.service'), { gpu: 1, mb: 900, otherGpus: [0] });
    assert.equal(measuredBy(snap, (p) => p.unit === 'c.service'), undefined);
    assert.equal(measuredBy({ available: false, reason: 'no driver' }, () => true), undefined);
  });

  describe('an app\'s sleep hooks', () => {
    it('from its OpenAPI document: routes in one folder go together, a health route is found', () => {
      const doc = {
        openapi: '3.1.0',
        paths: {
          '/health': { get: {} },
          '/v1/transcribe': { post: {} },
          '/model/unload': { post: {} },
          '/model/load': { post: {} },
          '/model/status': { get: {} },
          '/status': { get: {} },
          '/bad path': { get: {} },
        },
      };
      const routes = openApiRoutes(doc);
      assert.ok(routes);
      assert.ok(!routes.some((r) => r.path === '/bad path'));
      assert.deepEqual(hooksFromRoutes(routes), { hooks: { sleep: 'POST /model/unload', wake: 'POST /model/load', probe: 'GET /model/status' }, health: '/health' });
    });

    it('no hooks unless sleep, wake and probe are all there; not an OpenAPI document', () => {
      assert.deepEqual(hooksFromRoutes([{ method: 'POST', path: '/unload' }, { method: 'POST', path: '/load' }]), {});
      assert.equal(openApiRoutes({ paths: {} }), undefined);
      assert.equal(openApiRoutes(null), undefined);
    });

    it('from looks at a running app: a 405 on GET means a POST route is there', () => {
      const gets = new Map([
        ['/health', { status: 200, tellsState: false }],
        ['/status', { status: 200, tellsState: true }],
        ['/unload', { status: 405, tellsState: false }],
        ['/load', { status: 405, tellsState: false }],
        ['/sleep', { status: 404, tellsState: false }],
      ]);
      assert.deepEqual(hooksFromLooks({ gets }), { hooks: { sleep: 'POST /unload', wake: 'POST /load', probe: 'GET /status' }, health: '/health' });
      gets.set('/status', { status: 200, tellsState: false });
      assert.deepEqual(hooksFromLooks({ gets }), { health: '/health' });
    });
  });
});
