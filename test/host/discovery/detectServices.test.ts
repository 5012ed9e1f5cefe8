import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as vscode from 'vscode';
import { parseConfig } from '../../../src/config/load';
import { resolveConfigPath } from '../../../src/config/paths';
import type { GpumodApi } from '../../../src/ui/api';
import type { DetectServicesResult } from '../../../src/ui/commands/detectServicesCommand';
import { until } from '../support/until';

/**
 * gpumod: Detect Services in a real VS Code, against a systemd user manager whose units run
 * `…/venv/bin/vllm serve …` and `llama-server --models-dir …` (test/host/discoveryFixture.ts). The
 * answers to the quick picks are given as the command's argument; Apply and Discard are the real
 * commands behind the diff's title bar buttons.
 */

const CHAT = 'discovery-chat';
const EMBED = 'discovery-embed';
const MODEL = 'qwen3-8b-q4';

function proposalTab(): vscode.TabInputTextDiff | undefined {
  for (const tab of vscode.window.tabGroups.all.flatMap((g) => g.tabs)) {
    if (tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.scheme === 'gpumod-proposal') return tab.input;
  }
  return undefined;
}

describe('gpumod: Detect Services', function () {
  this.timeout(120000);
  // The runner's deadline can end the window before mocha reports: say what failed as it fails.
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`FAILED ${this.currentTest.title}: ${String(this.currentTest.err?.stack ?? this.currentTest.err)}`);
  });
  const file = resolveConfigPath(undefined, process.env);
  let api: GpumodApi;

  before(async () => {
    const ext = vscode.extensions.getExtension<GpumodApi>('gpumod.gpumod');
    assert.ok(ext);
    api = await ext.activate();
    assert.equal(existsSync(file), false, `no configuration before the test (${file})`);
  });

  it('opens the proposal as a diff against an empty file; Discard writes nothing and closes it', async () => {
    const running = vscode.commands.executeCommand<DetectServicesResult>('gpumod.detectServices', { services: [CHAT, MODEL], modes: 'per-service' });
    const diff = await until('the proposal diff', () => proposalTab(), 60000);
    assert.equal(diff.original.scheme, 'gpumod-proposal', 'no file yet: compared with an empty document');
    const proposal = await vscode.workspace.openTextDocument(diff.modified);
    assert.ok(parseConfig(proposal.getText(), 'proposal').ok);
    await vscode.commands.executeCommand('gpumod.discardDetectedServices');
    const result = await running;
    assert.equal(result?.applied, false);
    assert.equal(existsSync(file), false);
    await until('the diff closed', () => !proposalTab());
  });

  it('Apply writes the proposal the diff showed: ports, model, sleep, measured memory, one mode per service', async () => {
    const running = vscode.commands.executeCommand<DetectServicesResult>('gpumod.detectServices', { services: [CHAT, EMBED, MODEL], modes: 'per-service' });
    const diff = await until('the proposal diff', () => proposalTab(), 60000);
    const shown = (await vscode.workspace.openTextDocument(diff.modified)).getText();
    assert.match(shown, /vram_mb: 7000 # measured now: 7000 MiB on GPU 0/);
    await vscode.commands.executeCommand('gpumod.applyDetectedServices');
    const result = await running;
    assert.equal(result?.applied, true);
    assert.deepEqual(result?.services, [CHAT, EMBED, MODEL]);
    const written = readFileSync(file, 'utf8');
    assert.equal(written, shown, 'what is written is what the diff showed');
    const parsed = parseConfig(written, file);
    assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
    const cfg = parsed.config;
    const chat = cfg.services.get(CHAT);
    assert.equal(chat?.driver, 'vllm');
    assert.equal(chat?.port, Number(process.env.DISCOVERY_CHAT_PORT));
    assert.equal(chat?.sleep, 'l1');
    assert.equal(chat?.vramMb, 7000);
    assert.equal(cfg.services.get(EMBED)?.sleep, 'none');
    assert.equal(cfg.services.get(MODEL)?.driver, 'llamacpp');
    assert.equal(cfg.services.get(MODEL)?.vramMb, 4000);
    assert.deepEqual([...cfg.modes.keys()], [CHAT, EMBED, MODEL, 'blank']);
    await until('the diff closed', () => !proposalTab());
    // The window picks the new configuration up and observes the running servers.
    await until('the services observed', () => {
      const s = new Map(api.services().map((x) => [x.name, x.state]));
      return s.get(CHAT) === 'running' && s.get(MODEL) === 'running' && s.get(EMBED) === 'stopped';
    }, 60000);
  });

  it('run again, it finds nothing new and leaves the file alone', async () => {
    const before = readFileSync(file, 'utf8');
    const result = await vscode.commands.executeCommand<DetectServicesResult>('gpumod.detectServices', { modes: 'per-service', apply: true });
    assert.deepEqual(result?.services, []);
    assert.equal(result?.applied, false);
    assert.equal(readFileSync(file, 'utf8'), before);
  });
});
