// `gpumod mcp`: the agent tools over the Model Context Protocol (stdio), for agents outside VS Code.
// JSON-RPC owns stdout; logs go to stderr, which MCP clients show as the server's log.
import { setMaxListeners } from 'node:events';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { version } from '../../package.json';
import { engineBackend } from '../agent/engineBackend';
import { parseToolInput, runTool, ToolInputError, TOOLS, type ToolProgress } from '../agent/tools';
import { resolveConfigPath } from '../config/paths';
import { describePlan } from '../engine/planText';
import { progressLine, stepMessage } from '../engine/stepText';
import { streamLogger } from '../system/logger';
import { allowFlags, flagString, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';
import { LiveSession } from './liveSession';
import { stopSignals } from './session';

const INSTRUCTIONS =
  'gpumod switches the GPU inference servers of this workstation (vLLM, llama.cpp, small apps under systemd) between named modes. ' +
  'Call gpumod_status to see the mode and services, gpumod_plan to preview a switch, gpumod_switch_mode to switch. Switches and service actions change running servers.';

type Progress = (progress: number, message: string) => void;

/** MCP progress notifications for a call that asked for them (its `_meta.progressToken`): one per step that begins or ends. */
function toolProgress(report: Progress | undefined): ToolProgress {
  if (!report) return {};
  let n = 0;
  return {
    plan: (plan) => report(++n, describePlan(plan)[0]),
    step: (e) => {
      const message = stepMessage(e) ?? progressLine(e)?.trim();
      if (message) report(++n, message);
    },
  };
}

export async function mcpCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'verbose']);
  const log = streamLogger(io.err, args.flags.has('verbose') ? 'info' : 'warn');
  const server = new Server(
    { name: 'gpumod', title: 'gpumod', version },
    { capabilities: { tools: { listChanged: true } }, instructions: INSTRUCTIONS },
  );
  const live = new LiveSession(resolveConfigPath(flagString(args, 'config'), io.env), log, io.env, () => {
    void server.sendToolListChanged().catch(() => undefined);
  });
  const owner = `gpumod mcp (PID ${process.pid})`;
  /** Calls under way: a signal ends them (they roll back), stdin's end waits for them. */
  const calls = new Map<Promise<unknown>, AbortController>();

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const config = await live.config();
    return {
      tools: TOOLS.map((t) => ({
        name: t.name,
        title: t.title,
        description: t.description,
        inputSchema: t.inputSchema(config),
        annotations: { title: t.title, readOnlyHint: t.readOnly, destructiveHint: t.destructive, idempotentHint: t.readOnly, openWorldHint: false },
      })),
    };
  });

  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const lease = await live.lease();
    if (!lease) {
      return { content: [{ type: 'text', text: JSON.stringify({ ok: false, error: 'CONFIG', message: `no valid gpumod configuration: ${live.problems || live.file}` }) }], isError: true };
    }
    const ctl = new AbortController();
    setMaxListeners(256, ctl.signal); // one listener per step in flight
    const onAbort = (): void => ctl.abort();
    extra.signal.addEventListener('abort', onAbort, { once: true });
    const token = req.params._meta?.progressToken;
    const report: Progress | undefined =
      token === undefined
        ? undefined
        : (progress, message) => void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, message } } as ServerNotification).catch(() => undefined);
    const run = (async (): Promise<CallToolResult> => {
      let input;
      try {
        input = parseToolInput(req.params.name, req.params.arguments, lease.config);
      } catch (e) {
        if (e instanceof ToolInputError) throw new McpError(ErrorCode.InvalidParams, e.message);
        throw e;
      }
      const out = await runTool(input, engineBackend(lease.config, lease.machine.ports, owner), ctl.signal, toolProgress(report));
      const warning = live.problems ? [{ type: 'text' as const, text: `warning: gpumod.yaml has problems, the last valid configuration is in force:\n${live.problems}` }] : [];
      return { content: [{ type: 'text', text: out.text }, ...warning], isError: out.isError };
    })();
    calls.set(run, ctl);
    try {
      return await run;
    } finally {
      calls.delete(run);
      extra.signal.removeEventListener('abort', onAbort);
      lease.release();
    }
  });

  const signals = stopSignals();
  const ended = new Promise<'stdin' | 'signal'>((resolve) => {
    process.stdin.once('end', () => resolve('stdin'));
    process.stdin.once('close', () => resolve('stdin'));
    void signals.stopped.then(() => resolve('signal'));
  });
  await server.connect(new StdioServerTransport());
  log.info(`gpumod mcp: serving ${live.file} on stdio`);
  const why = await ended;
  // A closed stdin is a client gone: what it started finishes (the user approved it). A signal asks to
  // stop now: calls under way are cancelled, and each rolls back before the process exits.
  if (why === 'signal') for (const ctl of calls.values()) ctl.abort();
  await Promise.allSettled([...calls.keys()]);
  await server.close().catch(() => undefined);
  await live.close();
  signals.dispose();
  return EXIT.ok;
}
