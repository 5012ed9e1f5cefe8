// Entry called by the VS Code extension host (extensionTestsPath): runs every suite in ./suite.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60000, reporter: 'spec' });
  // The runner picks the suite folder: a bare window, or one with the demo workstation behind it.
  const dir = join(__dirname, process.env.GPUMOD_HOST_SUITE ?? 'suite');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(join(dir, f));
  await new Promise<void>((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} host test(s) failed`)) : resolve()));
  });
}
