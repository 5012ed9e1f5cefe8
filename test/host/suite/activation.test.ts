import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';

const EXT_ID = 'gpumod.gpumod';

interface Manifest {
  contributes: { commands: { command: string }[]; views: Record<string, { id: string }[]> };
}

describe('activation in a real VS Code extension host', () => {
  let manifest: Manifest;

  before(async () => {
    const ext = vscode.extensions.getExtension(EXT_ID);
    assert.ok(ext, `extension ${EXT_ID} is loaded`);
    manifest = ext.packageJSON as Manifest;
    await ext.activate();
    assert.equal(ext.isActive, true);
  });

  it('registers every contributed command exactly once, and no others', async () => {
    const all = await vscode.commands.getCommands(true);
    // VS Code itself adds `<viewId>.focus`, `.open`, … for every contributed view.
    const viewIds = Object.values(manifest.contributes.views).flat().map((v) => `${v.id}.`);
    const ours = all.filter((c) => c.startsWith('gpumod.') && !viewIds.some((v) => c.startsWith(v)));
    const contributed = manifest.contributes.commands.map((c) => c.command);
    for (const id of contributed) {
      assert.equal(ours.filter((c) => c === id).length, 1, `${id} registered once`);
    }
    assert.deepEqual([...new Set(ours)].sort(), [...contributed].sort());
  });

  it('gpumod: Open Configuration creates a commented starter file and opens it', async () => {
    const work = process.env.GPUMOD_TEST_WORK;
    assert.ok(work, 'GPUMOD_TEST_WORK is set by the runner');
    const file = join(work, 'config', 'gpumod', 'gpumod.yaml');
    assert.equal(existsSync(file), false, 'no config before the command');
    await vscode.commands.executeCommand('gpumod.openConfiguration');
    assert.equal(existsSync(file), true, 'starter file created');
    assert.match(readFileSync(file, 'utf8'), /^# gpumod configuration/);
    const editor = vscode.window.activeTextEditor;
    assert.ok(editor, 'an editor is open');
    assert.equal(editor.document.uri.fsPath, file);
  });

  it('never overwrites an existing configuration', async () => {
    const file = join(process.env.GPUMOD_TEST_WORK as string, 'config', 'gpumod', 'gpumod.yaml');
    const edited = readFileSync(file, 'utf8') + '# my edit\n';
    await vscode.workspace.fs.writeFile(vscode.Uri.file(file), Buffer.from(edited));
    await vscode.commands.executeCommand('gpumod.openConfiguration');
    assert.equal(readFileSync(file, 'utf8'), edited);
  });
});
