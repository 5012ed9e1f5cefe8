import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { STARTER_CONFIG } from '../../config/starter';
import type { ConfigSource } from '../configSource';

/** `gpumod: Open Configuration` — opens gpumod.yaml, creating a commented starter file when none exists. */
export async function openConfiguration(source: ConfigSource, log: vscode.LogOutputChannel): Promise<void> {
  const path = source.path;
  try {
    await mkdir(dirname(path), { recursive: true });
    // 'wx' never overwrites: an existing config, even a broken one, is the user's.
    await writeFile(path, STARTER_CONFIG, { flag: 'wx' });
    log.info(`created starter configuration ${path}`);
    await source.reload();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path));
  await vscode.window.showTextDocument(doc, { preview: false });
}
