import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { assertNoSwitchFor, backToBlank, observedGpumod } from '../support/gpumod';
import { until } from '../support/until';
import type { GpumodApi } from '../../../src/ui/api';

/**
 * A workspace whose settings name the mode "code" (and try to point gpumod at another config).
 * Run twice by the runner: in an untrusted window nothing may switch; in a trusted one with
 * gpumod.autoSwitch "on" the machine switches to code by itself. Either way the workspace cannot
 * change which services exist.
 */

const expectTrusted = process.env.GPUMOD_EXPECT_TRUST === 'trusted';


describe(`auto-switch in a ${expectTrusted ? 'trusted' : 'untrusted'} workspace that names a mode`, function () {
  this.timeout(120000);
  let api: GpumodApi;

  before(async () => {
    api = await observedGpumod();
  });

  it(`the window is ${expectTrusted ? '' : 'not '}trusted`, () => {
    assert.equal(vscode.workspace.isTrusted, expectTrusted);
  });

  it('a workspace cannot point gpumod at another configuration or add services', () => {
    const info = vscode.workspace.getConfiguration('gpumod').inspect<string>('configPath');
    assert.notEqual(vscode.workspace.getConfiguration('gpumod').get('configPath'), '/tmp/evil-gpumod.yaml', JSON.stringify(info));
    assert.deepEqual(api.services().map((s) => s.name).sort(), ['glm-code', 'qwen3-asr', 'vllm-chat', 'vllm-embedding', 'vllm-embedding-code', 'vllm-hyde', 'vllm-reranker', 'vllm-tts']);
  });

  if (expectTrusted) {
    it('switches to the named mode by itself', async () => {
      await until('the auto-switch to code', () => api.mode() === 'code' && !api.switching(), 60000);
      const byName = new Map(api.services().map((s) => [s.name, s.state]));
      assert.equal(byName.get('glm-code'), 'running');
      await backToBlank(api);
    });
  } else {
    it('an agent\'s switch is refused before the user is asked; its status still answers', async () => {
      await assert.rejects(
        Promise.resolve(vscode.lm.invokeTool('gpumod_switch_mode', { input: { mode: 'code' }, toolInvocationToken: undefined })),
        /does not switch modes or act on services from an untrusted workspace/,
      );
      const status = await vscode.lm.invokeTool('gpumod_status', { input: {}, toolInvocationToken: undefined });
      const part = status.content[0];
      assert.ok(part instanceof vscode.LanguageModelTextPart);
      assert.ok(Array.isArray((JSON.parse(part.value) as { services: unknown[] }).services));
    });

    it('never switches', async () => {
      await assertNoSwitchFor(api, 5000, 'no switch may start');
      await api.refresh();
      assert.notEqual(api.mode(), 'code');
      assert.ok(api.services().every((s) => s.state !== 'running' && s.state !== 'starting'), JSON.stringify(api.services()));
    });
  }
});
