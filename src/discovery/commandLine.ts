import { assignment, lexWords, type Lexed, type Word } from './shellWords';

/**
 * The server behind a unit's ExecStart: the wrappers people put in front of it (`env`, `bash -c`,
 * `uv run`, `conda run`, `nice`, `python -m`) taken off, conservatively: whatever would make the
 * reading a guess (a pipeline, a script, a computed argument) is refused with the reason.
 */

export interface ServerCommand {
  /** The program's name without its directory (`vllm`, `llama-server`), or the module run by `python -m`. */
  program: string;
  /** The path as written (`/home/u/.venv/bin/vllm`), or `python -m MODULE`. */
  path: string;
  /** Set when the program is a Python module (`python -m uvicorn`). */
  module?: string;
  args: string[];
  /** The environment the server sees: the unit's, then what the wrappers set. */
  env: Record<string, string>;
  /** The wrappers taken off, outermost first (`bash -c`, `uv run`), for the proposal's comment. */
  via: string[];
  notes: string[];
}

export type Unwrapped = { ok: true; value: ServerCommand } | { ok: false; reason: string };

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash']);
const CONTAINERS = new Set(['docker', 'podman', 'nerdctl', 'apptainer', 'singularity']);
/** Environment managers that run `X run [options] COMMAND…`, with their options that take a value. */
const RUNNERS: Record<string, Set<string>> = {
  uv: new Set(['--with', '--with-editable', '--with-requirements', '--python', '-p', '--project', '--directory', '--env-file', '--extra', '--group', '--only-group', '--no-group', '--package', '--index', '--default-index', '--index-url', '--extra-index-url', '--find-links', '-f', '--cache-dir', '--config-file', '--from', '--color']),
  conda: new Set(['-n', '--name', '-p', '--prefix', '--cwd']),
  mamba: new Set(['-n', '--name', '-p', '--prefix', '--cwd']),
  micromamba: new Set(['-n', '--name', '-p', '--prefix', '--cwd', '-r', '--root-prefix']),
  pixi: new Set(['-e', '--environment', '--manifest-path']),
  poetry: new Set(['-C', '--directory', '-P', '--project']),
  pipenv: new Set([]),
  hatch: new Set([]),
};
const PYTHON = /^(python|pypy)(\d+(\.\d+)*)?$/;
/** python options that take a value. */
const PYTHON_VALUED = new Set(['-X', '-W', '--check-hash-based-pycs']);
const MAX_DEPTH = 8;

export function basename(path: string): string {
  return path.split('/').pop() ?? path;
}

/** The unit's command lines (one a line, from the ExecStart property) reduced to the server's. */
export function unwrapExecStart(execStart: string, unitEnv: Readonly<Record<string, string>>): Unwrapped {
  const commands = execStart.split('\n').filter((l) => l.trim() !== '');
  if (commands.length === 0) return { ok: false, reason: 'no ExecStart= command' };
  if (commands.length > 1) return { ok: false, reason: `${commands.length} commands in ExecStart= (Type=oneshot runs them in turn): not one long-running server` };
  const source = commands[0];
  const lexed = lexWords(source, 'argv', unitEnv);
  // systemd before 253 prints arguments joined by blanks, unquoted: a quote in them may be unbalanced.
  const words: Word[] = lexed.ok ? lexed.value.words : [...source.matchAll(/\S+/g)].map((m) => ({ text: m[0], start: m.index ?? 0 }));
  const env = { ...unitEnv };
  const state: ServerCommand = { program: '', path: '', args: [], env, via: [], notes: [] };
  if (lexed.ok && lexed.value.unresolved.length > 0) {
    state.notes.push(`${lexed.value.unresolved.map((n) => `$${n}`).join(', ')} not set in the unit's environment`);
  }
  return unwrap(words, source, state, 0);
}

function unwrap(words: Word[], source: string, st: ServerCommand, depth: number): Unwrapped {
  if (depth > MAX_DEPTH) return { ok: false, reason: 'wrappers nested too deep to follow' };
  const argv = words.map((w) => w.text);
  if (argv.length === 0) return { ok: false, reason: 'an empty command' };
  const path = argv[0];
  const name = basename(path);
  const rest = (i: number): Word[] => words.slice(i);
  const again = (i: number, via?: string): Unwrapped => {
    if (via) st.via.push(via);
    return unwrap(rest(i), source, st, depth + 1);
  };

  if (name === 'exec') return again(1);
  if (assignment(path) && depth > 0) {
    const [k, v] = assignment(path) as [string, string];
    st.env[k] = v;
    return again(1);
  }
  if (name === 'env') return unwrapEnv(words, source, st, depth);
  if (SHELLS.has(name)) return unwrapShell(words, source, st, depth);
  if (CONTAINERS.has(name)) {
    return { ok: false, reason: `runs a container (${name} ${argv[1] ?? ''}): containers are out of scope, gpumod manages the unit's own processes` };
  }
  if (name === 'nice' || name === 'ionice' || name === 'taskset' || name === 'numactl' || name === 'chrt' || name === 'stdbuf') {
    return again(skipOptions(argv, 1, niceValued(name), name === 'taskset' || name === 'chrt' ? 1 : 0), name);
  }
  if (name === 'uvx' || (name === 'uv' && argv[1] === 'tool' && argv[2] === 'run')) {
    const from = name === 'uvx' ? 1 : 3;
    return again(skipOptions(argv, from, RUNNERS.uv, 0), name === 'uvx' ? 'uvx' : 'uv tool run');
  }
  if (RUNNERS[name] !== undefined && argv[1] === 'run') {
    const i = skipOptions(argv, 2, RUNNERS[name], 0, name === 'uv');
    // `uv run -m MODULE` / `--module`: Python's -m through uv.
    if (name === 'uv' && (argv[i - 1] === '-m' || argv[i - 1] === '--module')) return pythonModule(argv[i], argv.slice(i + 1), st, `${name} run -m`);
    return again(i, `${name} run`);
  }
  if (PYTHON.test(name)) return unwrapPython(argv, st);
  st.program = name;
  st.path = path;
  st.args = argv.slice(1);
  return { ok: true, value: st };
}

function niceValued(name: string): Set<string> {
  switch (name) {
    case 'nice':
      return new Set(['-n', '--adjustment']);
    case 'ionice':
      return new Set(['-c', '--class', '-n', '--classdata', '-p', '--pid']);
    case 'taskset':
      return new Set(['-c', '--cpu-list']);
    case 'numactl':
      return new Set(['-N', '-m', '-C', '-p', '-i', '-P', '-w']);
    case 'stdbuf':
      return new Set(['-i', '-o', '-e']);
    default:
      return new Set();
  }
}

/**
 * The index of the first word after the options starting at `from` (`--` ends them). `positional`
 * non-option words are skipped too (taskset's mask). An option in `valued` takes the next word
 * unless written `--opt=value`. With `moduleFlag` (uv run), `-m`/`--module` ends the options, the
 * module name following it.
 */
function skipOptions(argv: string[], from: number, valued: Set<string>, positional: number, moduleFlag = false): number {
  let i = from;
  let left = positional;
  while (i < argv.length) {
    const a = argv[i];
    if (a === '--') return i + 1;
    if (moduleFlag && (a === '-m' || a === '--module')) return i + 1;
    if (a.startsWith('-') && a.length > 1) {
      i += valued.has(a) ? 2 : 1;
    } else if (left > 0) {
      left--;
      i++;
    } else return i;
  }
  return i;
}

function unwrapEnv(words: Word[], source: string, st: ServerCommand, depth: number): Unwrapped {
  let i = 1;
  const argv = words.map((w) => w.text);
  while (i < argv.length) {
    const a = argv[i];
    if (a === '-i' || a === '--ignore-environment' || a === '-') {
      for (const k of Object.keys(st.env)) delete st.env[k];
      i++;
    } else if (a === '-u' || a === '--unset') {
      delete st.env[argv[i + 1] ?? ''];
      i += 2;
    } else if (a.startsWith('--unset=')) {
      delete st.env[a.slice('--unset='.length)];
      i++;
    } else if (a === '-S' || a === '--split-string') {
      // `env -S "prog args"` (a shebang's way to pass several words): its words, then the rest.
      const split = lexWords(argv[i + 1] ?? '', 'argv', st.env);
      if (!split.ok) return { ok: false, reason: `env -S: ${split.reason}` };
      st.via.push('env');
      return unwrap([...split.value.words, ...words.slice(i + 2)], source, st, depth + 1);
    } else if (a === '-C' || a === '--chdir') {
      i += 2;
    } else if (a === '--') {
      i++;
      break;
    } else if (a.startsWith('-') && a.length > 1) {
      i++;
    } else break;
  }
  while (i < argv.length && assignment(argv[i])) {
    const [k, v] = assignment(argv[i]) as [string, string];
    st.env[k] = v;
    i++;
  }
  st.via.push('env');
  return unwrap(words.slice(i), source, st, depth + 1);
}

/** `bash -c SCRIPT`: the script's one command, after harmless preambles joined by `&&`. */
function unwrapShell(words: Word[], source: string, st: ServerCommand, depth: number): Unwrapped {
  const argv = words.map((w) => w.text);
  const name = basename(argv[0]);
  let c = -1;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (/^-[a-zA-Z]*c[a-zA-Z]*$/.test(a)) {
      c = i;
      break;
    }
    if (a === '-o' || a === '+o' || a === '-O' || a === '+O') i++;
    else if (!a.startsWith('-') && !a.startsWith('+')) break;
  }
  if (c < 0 || c + 1 >= argv.length) {
    const script = argv.slice(1).find((a) => !a.startsWith('-'));
    return { ok: false, reason: script ? `runs the script ${script}: gpumod cannot see what it starts (put the server's command in ExecStart=)` : `runs ${name} without a command` };
  }
  // One word after -c is the script. More: systemd < 253 printed the argv joined by blanks, so the
  // script is everything from there on, as written.
  const script = c + 2 === argv.length ? argv[c + 1] : source.slice(words[c + 1].start);
  const lexed = lexWords(script, 'shell', st.env);
  if (!lexed.ok) return { ok: false, reason: `${name} -c: ${lexed.reason}` };
  st.via.push(`${name} -c`);
  const inner = lexed.value;
  if (inner.substitution) return { ok: false, reason: `${name} -c computes its command line ($(…) or backquotes): gpumod cannot read it` };
  const cmd = lastCommand(inner, st, name);
  if (!cmd.ok) return cmd;
  if (inner.unresolved.length > 0) st.notes.push(`${inner.unresolved.map((n) => `$${n}`).join(', ')} not set in the unit's environment`);
  return unwrap(cmd.words, script, st, depth + 1);
}

const REDIRECT = new Set(['>', '>>', '<']);

/**
 * The script's server command: redirections dropped; `&&`-joined `cd`, `source`, `export` and plain
 * assignments before it accepted (their effect on the environment noted); anything else refused.
 */
function lastCommand(lexed: Lexed, st: ServerCommand, shell: string): { ok: true; words: Word[] } | { ok: false; reason: string } {
  const { words, ops } = lexed;
  const dropped = new Set<number>();
  const segments: Word[][] = [[]];
  let o = 0;
  for (let w = 0; w <= words.length; w++) {
    while (o < ops.length && ops[o].before === w) {
      const op = ops[o].op;
      if (REDIRECT.has(op)) {
        // `2>&1`: the fd before, a `&` and the fd after; `> file`: the file.
        const prev = segments[segments.length - 1];
        if (prev.length > 0 && /^\d$/.test(prev[prev.length - 1].text)) prev.pop();
        if (ops[o + 1]?.op === '&' && ops[o + 1].before === w) o++;
        dropped.add(w);
      } else if (op === '&&') {
        segments.push([]);
      } else {
        const what = op === '|' ? 'a pipeline (|)' : op === '||' ? 'a fallback (||)' : op === ';' ? 'several commands (;)' : op === '&' ? 'a background job (&)' : `"${op}"`;
        return { ok: false, reason: `${shell} -c runs ${what}: gpumod cannot tell which process is the server` };
      }
      o++;
    }
    if (w < words.length && !dropped.has(w)) segments[segments.length - 1].push(words[w]);
  }
  const server = segments.pop() as Word[];
  for (const seg of segments) {
    const [head, ...args] = seg.map((x) => x.text);
    if (head === 'cd') continue;
    if (head === 'source' || head === '.') {
      st.notes.push(`sources ${args[0] ?? '?'}: variables it sets are not seen by gpumod`);
      continue;
    }
    if (head === 'export' || (head !== undefined && assignment(head))) {
      for (const a of head === 'export' ? args : [head, ...args]) {
        const kv = assignment(a);
        if (kv) st.env[kv[0]] = kv[1];
      }
      continue;
    }
    return { ok: false, reason: `${shell} -c runs "${head}" and then the server (&&): gpumod cannot tell which process is the server` };
  }
  if (server.length === 0) return { ok: false, reason: `${shell} -c has no command` };
  return { ok: true, words: server };
}

function unwrapPython(argv: string[], st: ServerCommand): Unwrapped {
  let i = 1;
  while (i < argv.length) {
    const a = argv[i];
    if (a === '-m') return pythonModule(argv[i + 1], argv.slice(i + 2), st, `${basename(argv[0])} -m`);
    if (a.startsWith('-m') && a.length > 2) return pythonModule(a.slice(2), argv.slice(i + 1), st, `${basename(argv[0])} -m`);
    if (a === '-c') return { ok: false, reason: `${basename(argv[0])} -c runs inline code: gpumod cannot tell what it serves` };
    if (!a.startsWith('-')) break;
    i += PYTHON_VALUED.has(a) ? 2 : 1;
  }
  const script = argv[i];
  if (script === undefined) return { ok: false, reason: `${basename(argv[0])} without a script or module` };
  return { ok: false, reason: `runs the Python script ${script}: gpumod cannot tell what it serves (use vllm serve, python -m …, uvicorn or fastapi run in ExecStart=)` };
}

/** `python -m MODULE args`: modules that are the command line tools of servers become those tools. */
function pythonModule(module: string | undefined, args: string[], st: ServerCommand, via: string): Unwrapped {
  if (!module) return { ok: false, reason: `${via} without a module` };
  st.path = `${via} ${module}`;
  st.module = module;
  const alias: Record<string, string> = { 'vllm.entrypoints.cli.main': 'vllm', uvicorn: 'uvicorn', fastapi: 'fastapi', gunicorn: 'gunicorn' };
  st.program = alias[module] ?? module;
  st.args = args;
  return { ok: true, value: st };
}
