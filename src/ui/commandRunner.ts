import * as vscode from 'vscode';
import { errorMessage, isGpumodError } from '../errors';

/**
 * The one wrapper every command goes through: logs the failure with its cause and turns it into
 * an error message offering "Show Log", so no command fails silently or with a bare stack.
 */
export function runCommand<A extends unknown[]>(
  id: string,
  log: vscode.LogOutputChannel,
  body: (...args: A) => Promise<unknown>,
): (...args: A) => Promise<unknown> {
  return async (...args: A): Promise<unknown> => {
    try {
      return await body(...args);
    } catch (e) {
      if (isGpumodError(e, 'CANCELLED')) {
        log.info(`${id}: cancelled`);
        return undefined;
      }
      log.error(`${id} failed: ${errorMessage(e)}`);
      if (e instanceof Error && e.cause) log.error(`  cause: ${errorMessage(e.cause)}`);
      const choice = await vscode.window.showErrorMessage(`gpumod: ${errorMessage(e)}`, 'Show Log');
      if (choice === 'Show Log') log.show(true);
      return undefined;
    }
  };
}
