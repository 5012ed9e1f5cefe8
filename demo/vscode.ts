import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './workstation';

/** What scripts/vscodeServer.mjs's startServer resolves with (the part the demo uses). */
interface VscodeServer {
  port: number;
  /** Its user-data, server-data and extensions directories. */
  tmp: string;
  url(folder: string, payload?: Array<[string, string]>): string;
  remote(path: string): string;
  stop(): void;
}

interface VscodeServerModule {
  startServer(opts: { env?: Record<string, string>; settings?: Record<string, unknown>; log?: (d: string) => void }): Promise<VscodeServer>;
}

export interface ServedVscode {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** PIDs whose command line mentions `text` (the server's processes all name its temp directory). */
function processesMentioning(text: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', text], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The real VS Code server (code-server's, installed by `npm run setup:host`) with this checkout as
 * the extension under development, its extension host pointed at the demo workstation by `env`.
 */
export async function serveVscode(env: Record<string, string>, scratch: string): Promise<ServedVscode> {
  // Loaded at run time, not bundled: the module finds the checkout from its own import.meta.url.
  const href = pathToFileURL(join(REPO, 'scripts/vscodeServer.mjs')).href;
  const mod = (await import(href)) as VscodeServerModule;
  const workspace = join(scratch, 'workspace');
  mkdirSync(workspace, { recursive: true });
  // A workspace the demo made itself: no trust prompt in front of the extension.
  const server = await mod.startServer({ env, settings: { 'security.workspace.trust.enabled': false } });
  const payload: Array<[string, string]> = [
    ['extensionDevelopmentPath', server.remote(REPO)],
    ['skipWelcome', 'true'],
    ['skipReleaseNotes', 'true'],
  ];
  return {
    url: server.url(workspace, payload),
    port: server.port,
    async stop(): Promise<void> {
      server.stop();
      // Its directories go once its processes have exited (they write there until the end).
      for (let i = 0; i < 50 && processesMentioning(server.tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      rmSync(server.tmp, { recursive: true, force: true });
    },
  };
}
