// Starts test/host/workstationFixture (bundled), or another fixture of test/host, as a child and
// resolves with the environment it prints; stop() closes its stdin, which tears the workstation and
// its systemd manager down.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './vscodeServer.mjs';

export async function startWorkstation(args = [], fixture = 'workstationFixture.js') {
  const child = spawn(process.execPath, [join(REPO, 'out/test/host', fixture), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const info = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.on('exit', (code) => reject(new Error(`workstation fixture exited ${code}`)));
  });
  const exited = new Promise((r) => child.on('exit', r));
  return {
    ...info,
    stop: async () => {
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30000))]);
    },
  };
}
