// Offers `gpumod mcp` to editors that take MCP server definitions from extensions (VS Code 1.101 and
// later); the project targets 1.100, where the API is missing and this registers nothing. The server
// is the CLI's: it is offered once a `gpumod` command is on PATH (the extension does not carry it).
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import * as vscode from 'vscode';
import { version } from '../../package.json';

interface McpApi {
  registerMcpServerDefinitionProvider(id: string, provider: { provideMcpServerDefinitions(): Promise<unknown[]> }): vscode.Disposable;
}
type StdioDefinition = new (label: string, command: string, args?: string[], env?: Record<string, string>, version?: string) => unknown;

/** The first executable `gpumod` on PATH. */
export async function findOnPath(name: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const file = join(dir, name);
    if (await access(file, constants.X_OK).then(() => true, () => false)) return file;
  }
  return undefined;
}

/**
 * package.json declares the provider under both names the contribution point has had
 * (modelContextServerCollections in 1.100, mcpServerDefinitionProviders from 1.101). An editor that
 * refuses the registration anyway leaves the rest of the extension working: the failure is logged.
 */
export function registerMcpServer(configPath: () => string, log: vscode.LogOutputChannel): vscode.Disposable[] {
  const lm = (vscode as { lm?: Partial<McpApi> }).lm;
  const Definition = (vscode as unknown as { McpStdioServerDefinition?: StdioDefinition }).McpStdioServerDefinition;
  if (typeof lm?.registerMcpServerDefinitionProvider !== 'function' || typeof Definition !== 'function') return [];
  try {
    return [
      lm.registerMcpServerDefinitionProvider('gpumod.mcp', {
        // Asked for when the editor lists MCP servers, never during activation.
        provideMcpServerDefinitions: async () => {
          const cli = await findOnPath('gpumod');
          return cli ? [new Definition('gpumod', cli, ['mcp', '--config', configPath()], {}, version)] : [];
        },
      }),
    ];
  } catch (e) {
    log.warn(`gpumod mcp is not offered to this editor: ${e instanceof Error ? e.message : String(e)}`);
    return [];
  }
}
