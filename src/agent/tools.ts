// The four tools an agent gets, in VS Code (language-model tools) and over MCP (`gpumod mcp`): what a
// model reads (descriptions, input schemas with the loaded config's names as enums), the checks of its
// arguments (an error names the valid values), and the results as short JSON a model can use.
import type { Config } from '../config/types';
import { describePlan } from '../engine/planText';
import type { StepEvent } from '../engine/steps';
import type { ServiceActionName, ServiceActionResult, SwitchResult } from '../engine/switcher';
import type { Plan } from '../engine/types';
import { errorMessage, isGpumodError } from '../errors';
import { actionJson, planJson, stepJson } from './reports';

export type ToolName = 'gpumod_status' | 'gpumod_plan' | 'gpumod_switch_mode' | 'gpumod_service_action';

/** The actions an agent may run on one service, as it names them; sleep_deep is vLLM's level 2. */
export const TOOL_ACTIONS = ['sleep', 'sleep_deep', 'wake', 'start', 'stop', 'restart'] as const;
export type ToolAction = (typeof TOOL_ACTIONS)[number];
const ENGINE_ACTION: Record<ToolAction, ServiceActionName> = { sleep: 'sleep', sleep_deep: 'sleepDeep', wake: 'wake', start: 'start', stop: 'stop', restart: 'restart' };

export interface JsonSchema {
  type: 'object';
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
  additionalProperties: false;
}

export interface ToolSpec {
  name: ToolName;
  title: string;
  /** What the model reads to decide when and how to call the tool. */
  description: string;
  /** Changes nothing on the machine. */
  readOnly: boolean;
  /** May stop or restart servers (their in-flight requests are lost): the user confirms first. */
  destructive: boolean;
  /** The input schema; with a config, its mode and service names are enums. */
  inputSchema(config?: Config): JsonSchema;
}

const MODE_HELP = 'The mode to switch to: a name from the gpumod configuration (gpumod_status lists the current one).';

function modeSchema(config?: Config): JsonSchema {
  const mode: Record<string, unknown> = { type: 'string', description: MODE_HELP };
  if (config) mode.enum = [...config.modes.keys()];
  return { type: 'object', properties: { mode }, required: ['mode'], additionalProperties: false };
}

export const TOOLS: readonly ToolSpec[] = [
  {
    name: 'gpumod_status',
    title: 'GPU services status',
    description:
      "What runs on this workstation's GPU now, as observed (not as recorded): the current gpumod mode (a named set of inference servers: vLLM, llama.cpp, small apps), " +
      'every service with its state (running, sleeping at level l1/l2 or router-unloaded, stopped, starting, failed), whether it answers, the GPU memory it holds, and each GPU\'s used and total memory. ' +
      'Read-only and fast. Call it first to learn the mode and service names, and after a switch to confirm.',
    readOnly: true,
    destructive: false,
    inputSchema: () => ({ type: 'object', properties: {}, additionalProperties: false }),
  },
  {
    name: 'gpumod_plan',
    title: 'Preview a mode switch',
    description:
      'Previews switching to a mode without changing anything: each step (which services would sleep, stop, wake or cold-start, and why), the GPU memory before and after, and the estimated time in ms. ' +
      'A plan with "refused" set cannot run (the mode does not fit in GPU memory); "noop" means the machine is already in that mode.',
    readOnly: true,
    destructive: false,
    inputSchema: modeSchema,
  },
  {
    name: 'gpumod_switch_mode',
    title: 'Switch mode',
    description:
      'Switches the workstation to a mode: puts to sleep (or stops) the services the mode does not need and wakes (or cold-starts) the ones it needs, within GPU memory, rolling everything back if a step fails. ' +
      'A switch of sleeping services takes under a second; cold starts take up to minutes. The user confirms the plan first. Only one switch runs at a time on the machine: if another is under way, the call fails naming it. ' +
      'Returns ok, the mode reached, the time taken, when the models first answered, and each step.',
    readOnly: false,
    destructive: true,
    inputSchema: modeSchema,
  },
  {
    name: 'gpumod_service_action',
    title: 'Act on one GPU service',
    description:
      'Runs one action on one service: sleep (frees its GPU memory, keeps what it needs to wake fast), sleep_deep (vLLM level 2: frees the weights too), wake, start (cold start), stop, or restart. ' +
      'The user confirms first. Fails, naming the actions its state allows, when the service cannot do that now. Runs under the same machine-wide lock as a switch.',
    readOnly: false,
    destructive: true,
    inputSchema: (config?: Config) => {
      const service: Record<string, unknown> = { type: 'string', description: 'A service name from the gpumod configuration (gpumod_status lists them).' };
      if (config) service.enum = [...config.services.keys()];
      return {
        type: 'object',
        properties: { service, action: { type: 'string', enum: [...TOOL_ACTIONS], description: 'What to do with the service.' } },
        required: ['service', 'action'],
        additionalProperties: false,
      };
    },
  },
];

export function toolSpec(name: string): ToolSpec | undefined {
  return TOOLS.find((t) => t.name === name);
}

/** Bad arguments from a model: the message names what was wrong and the valid values. */
export class ToolInputError extends Error {}

export type ToolInput = { tool: 'gpumod_status' } | { tool: 'gpumod_plan' | 'gpumod_switch_mode'; mode: string } | { tool: 'gpumod_service_action'; service: string; action: ToolAction };

function record(input: unknown): Record<string, unknown> {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new ToolInputError(`the arguments must be a JSON object, not ${JSON.stringify(input)}`);
  return input as Record<string, unknown>;
}

function oneOf(what: string, value: unknown, valid: readonly string[]): string {
  if (typeof value === 'string' && valid.includes(value)) return value;
  const got = value === undefined ? `no ${what}` : `${what} ${JSON.stringify(value)}`;
  throw new ToolInputError(`${got}: the ${what}s are ${valid.join(', ')}`);
}

function noOthers(args: Record<string, unknown>, allowed: string[]): void {
  const extra = Object.keys(args).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw new ToolInputError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (this tool takes ${allowed.length ? allowed.join(', ') : 'none'})`);
}

/** Checks a model's arguments against the loaded config. */
export function parseToolInput(name: string, input: unknown, config: Config): ToolInput {
  const spec = toolSpec(name);
  if (!spec) throw new ToolInputError(`unknown tool "${name}": the tools are ${TOOLS.map((t) => t.name).join(', ')}`);
  const args = record(input);
  switch (spec.name) {
    case 'gpumod_status':
      noOthers(args, []);
      return { tool: spec.name };
    case 'gpumod_plan':
    case 'gpumod_switch_mode':
      noOthers(args, ['mode']);
      return { tool: spec.name, mode: oneOf('mode', args.mode, [...config.modes.keys()]) };
    case 'gpumod_service_action':
      noOthers(args, ['service', 'action']);
      return { tool: spec.name, service: oneOf('service', args.service, [...config.services.keys()]), action: oneOf('action', args.action, TOOL_ACTIONS) as ToolAction };
  }
}

/** What a long call tells its caller as it goes: the plan it runs, then each step that begins and ends. */
export interface ToolProgress {
  plan?: (plan: Plan) => void;
  step?: (e: StepEvent) => void;
}

/** How a front end (VS Code, MCP) runs what the tools ask for: through its own switch path (status bar, lock, progress). */
export interface ToolBackend {
  status(signal: AbortSignal): Promise<Record<string, unknown>>;
  plan(mode: string, signal: AbortSignal): Promise<Plan>;
  switchMode(mode: string, signal: AbortSignal, progress: ToolProgress): Promise<SwitchResult>;
  serviceAction(service: string, action: ServiceActionName, signal: AbortSignal, progress: ToolProgress): Promise<ServiceActionResult>;
}

export interface ToolOutcome {
  /** JSON text for the model. */
  text: string;
  /** The tool did not do what was asked (failed, refused, rolled back, cancelled). */
  isError: boolean;
}

const json = (v: unknown): string => JSON.stringify(v);

/** A switch's result without the plan it ran (gpumod_plan gives that): what a model needs next. */
function switchOutcome(r: SwitchResult): Record<string, unknown> {
  return {
    ok: r.ok,
    from: r.from ?? null,
    to: r.to,
    mode: r.mode ?? null,
    total_ms: r.totalMs,
    first_answer_ms: r.firstAnswerMs ?? null,
    noop: r.noop,
    cancelled: r.cancelled,
    rolled_back: r.rolledBack,
    failure: r.failure ?? null,
    steps: r.timeline.map(stepJson),
    message: r.message,
  };
}

/** Runs a checked tool call; engine errors (locked, refused, cancelled…) become an error outcome with their code. */
export async function runTool(input: ToolInput, backend: ToolBackend, signal: AbortSignal, progress: ToolProgress = {}): Promise<ToolOutcome> {
  try {
    switch (input.tool) {
      case 'gpumod_status':
        return { text: json(await backend.status(signal)), isError: false };
      case 'gpumod_plan': {
        const plan = await backend.plan(input.mode, signal);
        return { text: json({ summary: describePlan(plan)[0], ...(planJson(plan) as object) }), isError: plan.refused !== undefined };
      }
      case 'gpumod_switch_mode': {
        const r = await backend.switchMode(input.mode, signal, progress);
        return { text: json(switchOutcome(r)), isError: !r.ok };
      }
      case 'gpumod_service_action': {
        const r = await backend.serviceAction(input.service, ENGINE_ACTION[input.action], signal, progress);
        return { text: json(actionJson(r)), isError: !r.ok };
      }
    }
  } catch (e) {
    const code = isGpumodError(e) ? e.code : 'ERROR';
    return { text: json({ ok: false, error: code, message: errorMessage(e) }), isError: true };
  }
}

/** The confirmation a user reads before a switch runs: the real plan, its steps and estimate. */
export function switchConfirmation(plan: Plan): string {
  return describePlan(plan).join('\n');
}

/** "Put vllm-chat to deep sleep (level 2)", for confirmations. */
export function actionTitle(action: ToolAction, service: string): string {
  switch (action) {
    case 'sleep':
      return `Put ${service} to sleep`;
    case 'sleep_deep':
      return `Put ${service} to deep sleep (level 2)`;
    default:
      return `${action[0].toUpperCase()}${action.slice(1)} ${service}`;
  }
}
