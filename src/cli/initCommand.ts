import { resolveConfigPath } from '../config/paths';
import { createDetectPorts } from '../discovery/detectMachine';
import { detectServices } from '../discovery/detectServices';
import { mergeProposal } from '../discovery/proposalYaml';
import { proposalSummary } from '../discovery/summary';
import { isGpumodError } from '../errors';
import { streamLogger } from '../system/logger';
import { writeFileAtomic } from '../system/stateStore';
import { allowFlags, flagString, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';

/**
 * `gpumod init [--print] [--merge] [--json] [--all]`: a gpumod.yaml proposed from the user's systemd
 * units. Writes a new file; adds to an existing one only with --merge (never changing what is there);
 * --print shows the result on stdout instead of writing.
 */
export async function initCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['config', 'print', 'merge', 'json', 'all', 'verbose']);
  const file = resolveConfigPath(flagString(args, 'config'), io.env);
  const log = streamLogger(io.err, args.flags.has('verbose') ? 'info' : 'error');
  const ports = createDetectPorts(log, io.env);
  let found;
  try {
    found = await detectServices(ports, file, { timeoutMs: 30_000 });
  } catch (e) {
    if (!isGpumodError(e, 'CONFIG_INVALID')) throw e;
    io.err(`gpumod: ${e.message}\n`);
    return EXIT.usage;
  } finally {
    await ports.http.close();
  }
  const { current, detection, proposal } = found;
  const merged = mergeProposal(current, file, proposal, proposal.drafts, { kind: 'per-service' });
  const print = args.flags.has('print');
  const exists = current !== undefined;
  const refuse = exists && !args.flags.has('merge') && !print;
  const write = !print && !refuse && merged.ok && proposal.drafts.length > 0;
  if (write && merged.ok) await writeFileAtomic(file, merged.text);
  if (args.flags.has('json')) {
    io.out(
      `${JSON.stringify({
        ok: merged.ok,
        path: file,
        written: write,
        services: proposal.drafts.map((d) => ({ name: d.name, unit: d.unit, kind: d.kind, running: d.running, ...d.service, comments: d.comments, notes: d.header.slice(1) })),
        modes: merged.ok ? merged.modes : [],
        not_added: proposal.notAdded,
        notes: merged.ok ? merged.notes : [],
        problems: merged.ok ? [] : merged.problems,
        yaml: merged.ok ? merged.text : undefined,
      })}\n`,
    );
  }
  const say = (text: string): void => (args.flags.has('json') ? undefined : print ? io.err(text) : io.out(text));
  const running = detection.units.filter((u) => u.running).length;
  say(`${proposalSummary(proposal, detection.units.length, running, args.flags.has('all'), '--all lists them').join('\n')}\n`);
  if (!detection.gpu.available) say(`No GPU visible (${detection.gpu.reason}): no memory measured.\n`);
  if (!merged.ok) {
    io.err(`gpumod: the proposal is not a valid configuration (a bug in gpumod; nothing written):\n${merged.problems.join('\n')}\n`);
    return EXIT.failed;
  }
  for (const n of merged.notes) say(`note: ${n}\n`);
  if (proposal.drafts.length === 0) {
    say(exists ? `Nothing to add to ${file}.\n` : 'No vLLM, llama-server, uvicorn, FastAPI or gunicorn units found: nothing written.\n');
    if (print && !args.flags.has('json') && exists) io.out(merged.text);
    return exists ? EXIT.ok : EXIT.failed;
  }
  if (print) {
    if (!args.flags.has('json')) io.out(merged.text);
    return EXIT.ok;
  }
  if (refuse) {
    io.err(`gpumod: ${file} exists: nothing written. --merge adds these services and modes to it (nothing of yours is changed); --print shows the result.\n`);
    return EXIT.usage;
  }
  say(`${exists ? 'Added to' : 'Wrote'} ${file}: services ${merged.services.join(', ')}; modes ${merged.modes.join(', ') || 'none'}.\nNext: gpumod doctor, then gpumod switch MODE.\n`);
  return EXIT.ok;
}
