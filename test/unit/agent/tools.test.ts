import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { engineBackend } from '../../../src/agent/engineBackend';
import { actionTitle, parseToolInput, runTool, switchConfirmation, ToolInputError, TOOLS } from '../../../src/agent/tools';
import type { StepEvent } from '../../../src/engine/steps';
import { machine, profileConfig } from '../engine/profile';

const config = profileConfig();
const signal = new AbortController().signal;
const parsed = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>;

describe('agent tools: what a model reads, the checks of its arguments, and the results', () => {
  it('package.json contributes the same four tools, descriptions and schemas (without the config\'s enums)', () => {
    const manifest = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as {
      activationEvents: string[];
      contributes: { languageModelTools: Array<{ name: string; modelDescription: string; inputSchema: unknown; displayName: string }> };
    };
    const contributed = manifest.contributes.languageModelTools;
    assert.deepEqual(contributed.map((t) => t.name), TOOLS.map((t) => t.name));
    for (const t of TOOLS) {
      const c = contributed.find((x) => x.name === t.name);
      assert.equal(c?.modelDescription, t.description, `${t.name}: package.json's modelDescription differs from src/agent/tools.ts`);
      assert.deepEqual(c?.inputSchema, t.inputSchema(), `${t.name}: package.json's inputSchema differs`);
      assert.equal(c?.displayName, t.title);
      assert.ok(manifest.activationEvents.includes(`onLanguageModelTool:${t.name}`), `no activation event for ${t.name}`);
    }
  });

  it('with a config, the schemas name its modes and services as enums', () => {
    const sw = TOOLS.find((t) => t.name === 'gpumod_switch_mode')!.inputSchema(config);
    assert.deepEqual(sw.properties.mode.enum, ['code', 'rag', 'speak', 'blank']);
    assert.deepEqual(sw.required, ['mode']);
    const act = TOOLS.find((t) => t.name === 'gpumod_service_action')!.inputSchema(config);
    assert.deepEqual(act.properties.service.enum, [...config.services.keys()]);
    assert.ok((act.properties.action.enum as string[]).includes('sleep_deep'));
  });

  it('bad arguments name what was wrong and the valid values', () => {
    const err = (name: string, input: unknown): string => {
      try {
        parseToolInput(name, input, config);
      } catch (e) {
        assert.ok(e instanceof ToolInputError);
        return e.message;
      }
      assert.fail(`${name} ${JSON.stringify(input)} was accepted`);
    };
    assert.equal(err('gpumod_switch_mode', { mode: 'party' }), 'mode "party": the modes are code, rag, speak, blank');
    assert.equal(err('gpumod_plan', {}), 'no mode: the modes are code, rag, speak, blank');
    assert.equal(err('gpumod_plan', { mode: 3 }), 'mode 3: the modes are code, rag, speak, blank');
    assert.match(err('gpumod_service_action', { service: 'vllm-chat', action: 'nap' }), /^action "nap": the actions are sleep, sleep_deep, wake, start, stop, restart$/);
    assert.match(err('gpumod_service_action', { service: 'gpt-5', action: 'stop' }), /^service "gpt-5": the services are .*vllm-chat/);
    assert.equal(err('gpumod_status', { verbose: true }), 'unexpected argument verbose (this tool takes none)');
    assert.equal(err('gpumod_status', 'all'), 'the arguments must be a JSON object, not "all"');
    assert.match(err('gpumod_reboot', {}), /^unknown tool "gpumod_reboot": the tools are gpumod_status, gpumod_plan/);
    assert.deepEqual(parseToolInput('gpumod_status', undefined, config), { tool: 'gpumod_status' });
    assert.deepEqual(parseToolInput('gpumod_service_action', { service: 'vllm-chat', action: 'sleep_deep' }, config), { tool: 'gpumod_service_action', service: 'vllm-chat', action: 'sleep_deep' });
  });

  it('status, plan and switch on the engine: JSON a model can use, errors flagged', async () => {
    const m = machine(32, 'code');
    const backend = engineBackend(config, m.ports(), 'test');
    const status = await runTool({ tool: 'gpumod_status' }, backend, signal);
    assert.equal(status.isError, false);
    assert.equal(parsed(status.text).mode, 'code');

    const plan = await runTool({ tool: 'gpumod_plan', mode: 'rag' }, backend, signal);
    assert.equal(plan.isError, false);
    assert.match(String(parsed(plan.text).summary), /^code → rag/);
    assert.ok(Array.isArray(parsed(plan.text).steps));
    assert.equal(m.mutations().length, 0, 'a plan changes nothing');

    const events: StepEvent[] = [];
    let planned = 0;
    const sw = await runTool({ tool: 'gpumod_switch_mode', mode: 'rag' }, backend, signal, { plan: () => planned++, step: (e) => events.push(e) });
    assert.equal(sw.isError, false, sw.text);
    const r = parsed(sw.text);
    assert.equal(r.ok, true);
    assert.equal(r.mode, 'rag');
    assert.equal(r.plan, undefined, 'the plan is gpumod_plan\'s: a switch reports what it did');
    assert.equal(planned, 1);
    assert.ok(events.some((e) => e.kind === 'begin') && events.some((e) => e.kind === 'end'));

    const action = await runTool({ tool: 'gpumod_service_action', service: 'vllm-chat', action: 'sleep' }, backend, signal);
    assert.equal(action.isError, false, action.text);
    assert.equal(m.stateOf('vllm-chat'), 'l1');
  });

  it('a switch another process holds the lock for is an error naming it, not a throw', async () => {
    const m = machine(32, 'code');
    m.lock.holder = 'VS Code window (pid 4242) (→ speak)';
    const out = await runTool({ tool: 'gpumod_switch_mode', mode: 'rag' }, engineBackend(config, m.ports(), 'test'), signal);
    assert.equal(out.isError, true);
    assert.deepEqual(parsed(out.text), { ok: false, error: 'LOCKED', message: 'another switch is in progress: VS Code window (pid 4242) (→ speak)' });
  });

  it('a service action\'s confirmation title says what happens to which service', () => {
    assert.equal(actionTitle('sleep_deep', 'vllm-chat'), 'Put vllm-chat to deep sleep (level 2)');
    assert.equal(actionTitle('sleep', 'vllm-chat'), 'Put vllm-chat to sleep');
    assert.equal(actionTitle('restart', 'glm-code'), 'Restart glm-code');
  });

  it('the confirmation shows the real plan: each step and the estimate', async () => {
    const m = machine(32, 'code');
    const plan = await engineBackend(config, m.ports(), 'test').plan('rag', signal);
    const text = switchConfirmation(plan);
    assert.match(text, /code → rag/);
    for (const s of plan.steps) assert.ok(text.includes(s.service), `${s.service} missing from the confirmation:\n${text}`);
  });
});
