import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { importOriginal, type SourceFile } from '../config/importOriginal';
import { allowFlags, flagString, UsageError, type ParsedArgs } from './args';
import { EXIT, type CliIo } from './io';

async function yamlFiles(dir: string, recursive: boolean): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory() && recursive) out.push(...(await yamlFiles(p, true)));
    else if (e.isFile() && /\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out;
}

async function readSources(root: string, files: string[], notes: string[]): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for (const f of files) {
    const path = relative(root, f);
    try {
      out.push({ path, data: parse(await readFile(f, 'utf8'), { maxAliasCount: 100 }) });
    } catch (e) {
      notes.push(`${path}: unreadable YAML (${(e as Error).message.split('\n')[0]}); skipped`);
    }
  }
  return out;
}

/** `gpumod import DIR [--output FILE] [--force] [--json]`: the original gpumod's presets and modes → gpumod.yaml. */
export async function importCommand(args: ParsedArgs, io: CliIo): Promise<number> {
  allowFlags(args, ['output', 'force', 'json']);
  const dir = args.positional[0];
  if (!dir || args.positional.length > 1) throw new UsageError('usage: gpumod import DIR [--output FILE] [--force]');
  const readNotes: string[] = [];
  const presets = await readSources(dir, await yamlFiles(join(dir, 'presets'), true), readNotes);
  const modes = await readSources(dir, await yamlFiles(join(dir, 'modes'), false), readNotes);
  if (presets.length === 0) {
    io.err(`gpumod: no presets/**/*.yaml under ${dir}\n`);
    return EXIT.usage;
  }
  const result = importOriginal(presets, modes, dir);
  result.notes.unshift(...readNotes);
  if (args.flags.has('json')) {
    const { services, modes, notes, refused, unused, problems, yaml } = result;
    io.out(JSON.stringify({ ok: problems.length === 0, services, modes, notes, refused, unused, problems, yaml }) + '\n');
  }
  if (result.problems.length > 0) {
    io.err(`gpumod: the imported configuration is not valid:\n${result.problems.join('\n')}\n`);
    return EXIT.failed;
  }
  const output = flagString(args, 'output');
  if (output) {
    try {
      await writeFile(output, result.yaml, { flag: args.flags.has('force') ? 'w' : 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${output} exists; pass --force to replace it`);
      throw e;
    }
  } else if (!args.flags.has('json')) {
    io.out(result.yaml);
  }
  if (!args.flags.has('json')) {
    for (const n of result.notes) io.err(`note: ${n}\n`);
    for (const r of result.refused) io.err(`refused: ${r}\n`);
    io.err(`imported ${result.services} services and ${result.modes} modes${output ? ` into ${output}` : ''}\n`);
  }
  return EXIT.ok;
}
