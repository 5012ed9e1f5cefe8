import * as vscode from 'vscode';
import { DEFAULT_GATEWAY_PORT } from '../../config/types';
import { errorMessage } from '../../errors';
import type { Controller } from '../controller';
import { findOnPath } from '../mcpServer';
import { core } from '../useCore';

/** The process runner, loaded with the command (it brings execa), not with the extension. */

/**
 * "gpumod: Install Gateway": `gpumod gateway install` for this window's configuration, then its
 * address. The unit runs the gpumod CLI, which the extension does not carry: it must be on PATH.
 */
export async function installGateway(controller: Controller, log: vscode.LogOutputChannel): Promise<void> {
  const cli = await findOnPath('gpumod');
  if (!cli) {
    const choice = await vscode.window.showErrorMessage(
      'gpumod: the gateway runs the gpumod command, which is not on your PATH. Install it (npm install -g gpumod, or npm link in a checkout), then try again.',
      'Show Log',
    );
    if (choice === 'Show Log') log.show(true);
    return;
  }
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('gpumod: trust this workspace to install the gateway (it installs and starts a systemd unit).');
    return;
  }
  const port = controller.config?.gateway?.port ?? DEFAULT_GATEWAY_PORT;
  try {
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'gpumod: installing the gateway…' }, () =>
      core().runProcess(cli, ['gateway', 'install', '--config', controller.configPath], { timeoutMs: 120_000 }, log),
    );
    log.info(r.stdout.trim());
    const url = `http://127.0.0.1:${port}/v1`;
    const choice = await vscode.window.showInformationMessage(`gpumod: the gateway runs at ${url} (unit gpumod-gateway.service, started with your session).`, 'Copy Address');
    if (choice === 'Copy Address') await vscode.env.clipboard.writeText(url);
  } catch (e) {
    log.error(errorMessage(e));
    const choice = await vscode.window.showErrorMessage(`gpumod: the gateway could not be installed: ${errorMessage(e)}`, 'Show Log');
    if (choice === 'Show Log') log.show(true);
  }
}
