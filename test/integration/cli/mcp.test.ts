// `gpumod mcp` driven by the MCP SDK's own client over stdio, against the profile workstation under
// the real user manager: the tools an agent lists, each call against what the CLI says, a switch's
// progress notifications, a cancelled call that rolls back, bad arguments, and a clean exit.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { MODES } from '../../../demo/profile';
import { CLI, cli, clearFaults, downRig, injectFault, readHistory, status, switchTo, until, upRig, type Rig } from '../reliability/support';
import { testPort } from '../support/testManager';

const PORT_BASE = testPort(1160);

function text(r: unknown): Record<string, unknown> {
  const c = (r as CallToolResult).content[0];
  assert.equal(c?.type, 'text');
  return JSON.parse((c as { text: string }).text) as Record<string, unknown>;
}

describe('cli: gpumod mcp (the SDK client over stdio, the profile workstation)', function () {
  this.timeout(180_000);
  let rig: Rig;
  let client: Client;
  let transport: StdioClientTransport;
  let stderr = '';

  before(async () => {
    rig = await upRig('mcp', PORT_BASE);
    await switchTo(rig, 'rag');
    await switchTo(rig, 'code');
    transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--verbose'], env: { PATH: process.env.PATH ?? '', ...rig.env }, stderr: 'pipe' });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    client = new Client({ name: 'gpumod-test', version: '1.0.0' });
    await client.connect(transport);
  });

  after(async () => {
    await client?.close().catch(() => undefined);
    if (rig) await downRig(rig);
  });

  it('lists the four tools, with the config\'s modes and services as enums and destructive ones marked', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['gpumod_status', 'gpumod_plan', 'gpumod_switch_mode', 'gpumod_service_action']);
    const by = new Map(tools.map((t) => [t.name, t]));
    assert.deepEqual((by.get('gpumod_switch_mode')?.inputSchema.properties?.mode as { enum: string[] }).enum.sort(), Object.keys(MODES).sort());
    assert.ok((by.get('gpumod_service_action')?.inputSchema.properties?.service as { enum: string[] }).enum.includes('vllm-chat'));
    assert.equal(by.get('gpumod_status')?.annotations?.readOnlyHint, true);
    assert.equal(by.get('gpumod_status')?.annotations?.destructiveHint, false);
    assert.equal(by.get('gpumod_switch_mode')?.annotations?.destructiveHint, true);
    assert.equal(by.get('gpumod_service_action')?.annotations?.readOnlyHint, false);
    for (const t of tools) assert.ok((t.description ?? '').length > 80, `${t.name} has no description a model can use`);
  });

  it('gpumod_status and gpumod_plan say what gpumod status --json and plan --json say', async () => {
    const mine = text(await client.callTool({ name: 'gpumod_status', arguments: {} }));
    const cliStatus = await status(rig);
    assert.equal(mine.mode, 'code');
    assert.equal(mine.mode, cliStatus.mode);
    const states = (s: { services: Array<{ name: string; state: string }> }): string[] => s.services.map((x) => `${x.name}:${x.state}`);
    assert.deepEqual(states(mine as never), states(cliStatus));

    const plan = await client.callTool({ name: 'gpumod_plan', arguments: { mode: 'rag' } });
    assert.equal(plan.isError, false);
    const p = text(plan);
    const cliPlan = JSON.parse((await cli(rig, ['plan', 'rag', '--json'])).stdout) as { steps: unknown[]; estimate_ms: number };
    const steps = (x: { steps: unknown[] }): string[] => (x.steps as Array<{ service: string; action: string }>).map((s) => `${s.action} ${s.service}`);
    assert.deepEqual(steps(p as never), steps(cliPlan));
    assert.equal(p.estimate_ms, cliPlan.estimate_ms);
    assert.match(String(p.summary), /code → rag/);
    assert.equal((await status(rig)).mode, 'code', 'a plan touches nothing');
  });

  it('bad arguments get an MCP error naming the valid values', async () => {
    await assert.rejects(client.callTool({ name: 'gpumod_switch_mode', arguments: { mode: 'party' } }), (e: unknown) => {
      assert.ok(e instanceof McpError, String(e));
      assert.equal(e.code, ErrorCode.InvalidParams);
      assert.match(e.message, /mode "party": the modes are .*code.*rag/);
      return true;
    });
    await assert.rejects(client.callTool({ name: 'gpumod_service_action', arguments: { service: 'vllm-chat', action: 'nap' } }), /action "nap": the actions are sleep, sleep_deep, wake, start, stop, restart/);
    await assert.rejects(client.callTool({ name: 'gpumod_plan', arguments: {} }), /no mode: the modes are/);
  });

  it('gpumod_switch_mode switches, reporting each step as progress', async () => {
    const progress: string[] = [];
    const r = await client.callTool({ name: 'gpumod_switch_mode', arguments: { mode: 'rag' } }, undefined, { onprogress: (p) => progress.push(p.message ?? '') });
    assert.equal(r.isError, false, JSON.stringify(r.content));
    const out = text(r);
    assert.equal(out.ok, true);
    assert.equal(out.mode, 'rag');
    assert.ok(progress.some((m) => /^waking vllm-chat/.test(m)), `progress: ${JSON.stringify(progress)}`);
    assert.ok(progress.some((m) => /^✓ wake vllm-chat/.test(m)), `progress: ${JSON.stringify(progress)}`);
    assert.equal((await status(rig)).mode, 'rag');
  });

  it('gpumod_service_action sleeps and wakes one service under the lock', async () => {
    const slept = await client.callTool({ name: 'gpumod_service_action', arguments: { service: 'vllm-chat', action: 'sleep' } });
    assert.equal(slept.isError, false, JSON.stringify(slept.content));
    let s = await status(rig);
    assert.equal(s.services.find((x) => x.name === 'vllm-chat')?.state, 'sleeping');
    const woken = await client.callTool({ name: 'gpumod_service_action', arguments: { service: 'vllm-chat', action: 'wake' } });
    assert.equal(woken.isError, false, JSON.stringify(woken.content));
    s = await status(rig);
    assert.equal(s.services.find((x) => x.name === 'vllm-chat')?.state, 'running');
    assert.equal(s.mode, 'rag');
  });

  it('a cancelled switch rolls back', async () => {
    assert.equal(text(await client.callTool({ name: 'gpumod_switch_mode', arguments: { mode: 'code' } })).ok, true);
    const before = readHistory(rig).length;
    await injectFault(rig, 'vllm-chat', { endpoint: '/wake_up', kind: 'hang' });
    try {
      const ctl = new AbortController();
      const call = client.callTool({ name: 'gpumod_switch_mode', arguments: { mode: 'rag' } }, undefined, {
        signal: ctl.signal,
        onprogress: (p) => /^waking vllm-chat/.test(p.message ?? '') && ctl.abort(),
      });
      await assert.rejects(call, /abort/i);
      const rec = await until('the cancelled switch to be recorded', async () => readHistory(rig)[before], 30_000, 100);
      assert.equal(rec.to, 'rag');
      assert.equal(rec.ok, false);
      assert.equal(rec.cancelled, true, JSON.stringify(rec));
      assert.equal(rec.rolledBack, true, JSON.stringify(rec));
      const s = await status(rig);
      assert.equal(s.mode, 'code');
      assert.equal(s.switching, null);
    } finally {
      await clearFaults(rig);
    }
  });

  it('an edit of gpumod.yaml comes into force at the next call; one that does not load leaves the last in force', async () => {
    const yaml = readFileSync(rig.configPath, 'utf8');
    try {
      const edited = parse(yaml) as { modes: Record<string, unknown> };
      edited.modes.quiet = { services: ['vllm-embedding'] };
      writeFileSync(rig.configPath, stringify(edited, { lineWidth: 0 }));
      const { tools } = await client.listTools();
      assert.ok((tools[2].inputSchema.properties?.mode as { enum: string[] }).enum.includes('quiet'), 'the new mode is offered');
      writeFileSync(rig.configPath, `${yaml}\nmodes: [`);
      const r = await client.callTool({ name: 'gpumod_plan', arguments: { mode: 'quiet' } });
      assert.equal(r.isError, false);
      assert.match(JSON.stringify(r.content), /the last valid configuration is in force/);
    } finally {
      writeFileSync(rig.configPath, yaml);
    }
  });

  it('exits 0 when stdin closes', async () => {
    const child = spawn(process.execPath, [CLI, 'mcp'], { env: { PATH: process.env.PATH ?? '', ...rig.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) + '\n');
    await until('the initialize answer', async () => (out.includes('"id":1') ? true : undefined), 20_000);
    assert.match(out, /"serverInfo":\{"name":"gpumod"/);
    const t0 = Date.now();
    child.stdin.end();
    const code = await new Promise<number | null>((res) => child.once('close', (c) => res(c)));
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms to exit`);
  });
});
