#!/usr/bin/env node
// Runs test/host (bundled to out/test/host) inside a REAL VS Code extension host: the VS Code server
// of code-server 4.100.3, its workbench opened in headless chromium. The extension host calls the
// suite's run() (the contract @vscode/test-electron uses); when it settles the workbench calls
// window.codeAutomationExit(code), which we expose, so mocha's exit code becomes ours.
// Runs test/host/suite in a bare VS Code (no config), then, with the demo workstation (real systemd
// units of the fakes) behind the extension: test/host/workstation, then test/host/autoswitch in an untrusted and in a trusted workspace that names a mode, then
// test/host/trustgrant, where the workspace opens untrusted and the runner trusts it when asked;
// test/host/costs in a fresh window (activation time and a minute of idle polling against the goals);
// and last test/host/discovery with real-shaped units (vllm serve, llama-server) in a manager of its own.
// Usage: node scripts/runHostTests.mjs [suite|workstation|autoswitch|trustgrant|discovery|costs]
//   env: TIMEOUT_MS, SHOW_SERVER=1, PORT_BASE (first port of the workstation's fakes, default 19800)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import { startWorkstation } from './hostFixture.mjs';
import { REPO, launchBrowser, startServer } from './vscodeServer.mjs';

const only = process.argv[2];
// A host test prints this line when the user should trust the workspace: an extension cannot.
const GRANT_TRUST_LINE = 'gpumod-host: please trust this workspace now';
const NOISE = /^(Resolving|Resolved|Creating|Updating|ChatSessionStore)|workbench\.js|Service Worker|DialogService|open-vsx|getaddrinfo/;

async function run(suite, extraEnv, { trusted = true, grantTrust = false, workspaceSettings, userSettings = {} } = {}) {
  const t0 = Date.now();
  const ts = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const work = mkdtempSync(join(tmpdir(), 'gpumod-host-'));
  const workspace = join(work, 'workspace');
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  if (workspaceSettings) writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify(workspaceSettings));
  // The extension under test gets its own config and state locations, never the user's.
  const env = {
    GPUMOD_TEST_WORK: work,
    GPUMOD_HOST_SUITE: suite,
    XDG_CONFIG_HOME: join(work, 'config'),
    XDG_STATE_HOME: join(work, 'state'),
    ...(grantTrust ? { GPUMOD_GRANT_TRUST_LINE: GRANT_TRUST_LINE } : {}),
    ...extraEnv,
  };
  let server;
  let browser;
  let settle;
  const done = new Promise((r) => (settle = r));
  let finished = false;
  const finish = async (code, why) => {
    if (finished) return;
    finished = true;
    console.log(`[host ${suite} ${ts()}] ${why}: exit ${code}`);
    try { await browser?.close(); } catch { /* already gone */ }
    server?.stop();
    if (code !== 0 && server) console.log(`[host] server output:\n${server.output().slice(-4000)}`);
    settle(code);
  };
  const timer = setTimeout(() => finish(2, 'timeout'), Number(process.env.TIMEOUT_MS || 240000));
  try {
    server = await startServer({ env, settings: { 'security.workspace.trust.enabled': !trusted, ...userSettings }, log: (d) => process.env.SHOW_SERVER && process.stderr.write(`[server] ${d}`) });
    console.log(`[host ${suite} ${ts()}] VS Code server on 127.0.0.1:${server.port}`);
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('console', async (m) => {
      // Extension-host output arrives as ('%c INFO', 'color: …', fmt, ...args).
      let args;
      try { args = await Promise.all(m.args().map((a) => a.jsonValue())); } catch { args = [m.text()]; }
      if (typeof args[0] !== 'string' || !args[0].startsWith('%c')) return;
      const line = format(...args.slice(2));
      // The workbench's own chatter (offline gallery, service worker, trust prompt) is not the tests'.
      if (!NOISE.test(line)) console.log(line);
      if (grantTrust && line.includes(GRANT_TRUST_LINE)) clickTrust(page).catch((e) => console.log(`[host ${suite} ${ts()}] granting trust failed: ${e.message}`));
    });
    await page.exposeFunction('codeAutomationLog', () => {});
    await page.exposeFunction('codeAutomationExit', (code) => finish(code, 'tests finished'));
    const payload = [
      ['extensionDevelopmentPath', server.remote(REPO)],
      ['extensionTestsPath', server.remote(join(REPO, 'out/test/host/index'))],
      ['skipWelcome', 'true'],
      ['skipReleaseNotes', 'true'],
    ];
    await page.goto(server.url(workspace, payload));
    console.log(`[host ${suite} ${ts()}] workbench loaded`);
  } catch (e) {
    console.error(e);
    await finish(3, 'runner error');
  }
  const code = await done;
  clearTimeout(timer);
  return code;
}

/** What a user does in Restricted Mode: open Workspace Trust from the status bar, click "Trust". */
async function clickTrust(page) {
  await page.locator('#workbench\\.parts\\.statusbar .statusbar-item', { hasText: 'Restricted Mode' }).click({ timeout: 30000 });
  await page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$/ }).click({ timeout: 30000 });
}

/** The CPUs' idle share over `ms`, from /proc/stat (1 when it cannot be read). */
async function idleShare(ms) {
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3] + (f[4] || 0), total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return undefined;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  return a && b && b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) : 1;
}

/** A measurement of costs starts on a quiet machine: the last suite's server and the build wound down (at most 30 s). */
async function quietMachine() {
  const deadline = Date.now() + 30_000;
  let quiet = 0;
  while (quiet < 3 && Date.now() < deadline) quiet = (await idleShare(1000)) >= 0.9 ? quiet + 1 : 0;
  console.log(`[host] costs: the machine ${quiet >= 3 ? 'is quiet' : 'is still busy after 30 s; measuring anyway'}`);
}

const want = (suite) => !only || only === suite;
let code = 0;
// The bare window's workspace tries to set what only the user may (test/host/suite/workspaceSettings).
const hostileWorkspace = { 'editor.tabSize': 7, 'gpumod.workspaceMode': 'rag', 'gpumod.configPath': '/tmp/evil-gpumod.yaml', 'gpumod.autoSwitch': 'on', 'gpumod.pollIntervalSeconds': 1 };
if (want('suite')) code ||= await run('suite', {}, { workspaceSettings: hostileWorkspace });
if (!code && ['workstation', 'autoswitch', 'trustgrant', 'costs'].some(want)) {
  const ws = await startWorkstation(process.env.PORT_BASE ? ['--port-base', process.env.PORT_BASE] : []);
  try {
    if (want('workstation')) code ||= await run('workstation', ws.env);
    // A workspace that names a mode, trusted then untrusted; it also tries to point gpumod at another
    // config, which a workspace cannot do (the setting is machine-scoped).
    const workspaceSettings = { 'gpumod.workspaceMode': 'code', 'gpumod.configPath': '/tmp/evil-gpumod.yaml' };
    const userSettings = { 'gpumod.autoSwitch': 'on' };
    if (!code && want('autoswitch')) code ||= await run('autoswitch', { ...ws.env, GPUMOD_EXPECT_TRUST: 'untrusted' }, { trusted: false, workspaceSettings, userSettings });
    if (!code && want('autoswitch')) code ||= await run('autoswitch', { ...ws.env, GPUMOD_EXPECT_TRUST: 'trusted' }, { trusted: true, workspaceSettings, userSettings });
    if (!code && want('trustgrant')) code ||= await run('trustgrant', ws.env, { trusted: false, grantTrust: true, workspaceSettings, userSettings });
    // A window as a user has it at their desk: gpumod's default settings, a plain trusted workspace.
    // Not the VS Code server's port finder: as a remote host it runs `ls -l /proc/*/fd/*` and `ps`
    // from the extension host every few seconds (3-4% of a core here), which a local window never does.
    // The extension host's CPU is all counted as gpumod's: nothing else in the window may work in the
    // background meanwhile (the git extension's repository scans, extension update checks, telemetry).
    const localWindow = {
      'remote.autoForwardPorts': false,
      'remote.autoForwardPortsSource': 'output',
      'git.enabled': false,
      'git.autoRepositoryDetection': false,
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'npm.autoDetect': 'off',
      'telemetry.telemetryLevel': 'off',
      'workbench.enableExperiments': false,
    };
    if (!code && want('costs')) {
      // Costs are measured on what users install: the production bundle (minified, as in the vsix).
      execFileSync(process.execPath, ['esbuild.mjs', '--production'], { cwd: REPO, stdio: 'inherit' });
      await quietMachine();
      try {
        code ||= await run('costs', ws.env, { userSettings: localWindow });
      } finally {
        execFileSync(process.execPath, ['esbuild.mjs'], { cwd: REPO, stdio: 'inherit' });
      }
    }
  } finally {
    await ws.stop();
  }
}
if (!code && want('discovery')) {
  const units = await startWorkstation(['--port-base', String(Number(process.env.PORT_BASE || 19800) + 100)], 'discoveryFixture.js');
  try {
    code ||= await run('discovery', units.env);
  } finally {
    await units.stop();
  }
}
setTimeout(() => process.exit(code), 200);
