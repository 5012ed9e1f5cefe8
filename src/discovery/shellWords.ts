/**
 * Words of a command line, as systemd or a shell would hand them to the program. Two readings:
 * `argv` (an ExecStart= as `systemctl show` prints it: quotes and `$VAR` only) and `shell` (the
 * script of `bash -c`: operators too, reported rather than interpreted). Nothing here runs anything.
 */

export interface Word {
  text: string;
  /** Offset in the source where the word starts (for the raw remainder after `bash -c`). */
  start: number;
}

export interface Lexed {
  words: Word[];
  /** Shell operators met (`|`, `&&`, `;`, `>` …), in order, with the index of the word before which each stands. */
  ops: { op: string; before: number }[];
  /** `$NAME` / `${NAME}` references the environment did not define (left in the words as written). */
  unresolved: string[];
  /** `$(…)` or backticks: the value is computed when the command runs. */
  substitution: boolean;
}

export type LexResult = { ok: true; value: Lexed } | { ok: false; reason: string };

const OPS = ['&&', '||', '>>', '<<', '|', '&', ';', '>', '<', '(', ')'];
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Splits `text` into words. `env` resolves `$NAME` and `${NAME}`; `$$` is a literal `$` in argv mode
 * (systemd's escape). Single quotes are literal; in double quotes a backslash escapes `"`, `\`, `$`
 * and the backquote; unquoted, a backslash escapes the next character.
 */
export function lexWords(text: string, mode: 'argv' | 'shell', env: Readonly<Record<string, string>> = {}): LexResult {
  const words: Word[] = [];
  const ops: Lexed['ops'] = [];
  const unresolved: string[] = [];
  let substitution = false;
  let cur: string | undefined;
  let start = 0;
  let i = 0;
  const push = (): void => {
    if (cur !== undefined) words.push({ text: cur, start });
    cur = undefined;
  };
  const add = (s: string): void => {
    if (cur === undefined) {
      cur = '';
      start = i;
    }
    cur += s;
  };
  /**
   * A `$` at i: appends what it stands for and returns the index after it. Unquoted, a value is split
   * into words at blanks, as systemd does for `$NAME` (not `${NAME}`) and a shell for both.
   */
  const dollar = (quoted: boolean): number => {
    const next = text[i + 1];
    if (mode === 'argv' && next === '$') {
      add('$');
      return i + 2;
    }
    if (next === '(') {
      substitution = true;
      add('$');
      return i + 1;
    }
    let name: string | undefined;
    let end = i + 1;
    if (next === '{') {
      const close = text.indexOf('}', i + 2);
      const inner = close > 0 ? text.slice(i + 2, close) : '';
      if (close > 0 && NAME.exec(inner)?.[0] === inner) {
        name = inner;
        end = close + 1;
      }
    } else {
      name = NAME.exec(text.slice(i + 1))?.[0];
      if (name) end = i + 1 + name.length;
    }
    if (name === undefined) {
      add('$');
      return i + 1;
    }
    const value = env[name];
    if (value === undefined) {
      if (!unresolved.includes(name)) unresolved.push(name);
      add(text.slice(i, end));
    } else if (!quoted && (mode === 'shell' || next !== '{')) {
      const parts = value.split(/[ \t\n]+/);
      parts.forEach((part, k) => {
        if (k > 0) push();
        if (part !== '') add(part);
      });
    } else add(value);
    return end;
  };
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      push();
      i++;
    } else if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) return { ok: false, reason: 'an unterminated single quote' };
      add(text.slice(i + 1, close));
      i = close + 1;
    } else if (c === '"') {
      add('');
      i++;
      for (;;) {
        if (i >= text.length) return { ok: false, reason: 'an unterminated double quote' };
        const d = text[i];
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < text.length) {
          const e = text[i + 1];
          if (mode === 'argv') {
            add(cEscape(e));
          } else add('"\\$`'.includes(e) ? e : `\\${e}`);
          i += 2;
        } else if (d === '$') {
          i = dollar(true);
        } else {
          if (d === '`') substitution = true;
          add(d);
          i++;
        }
      }
    } else if (c === '\\' && i + 1 < text.length) {
      add(text[i + 1]);
      i += 2;
    } else if (c === '$') {
      i = dollar(false);
    } else if (mode === 'shell' && c === '`') {
      substitution = true;
      add(c);
      i++;
    } else if (mode === 'shell' && c === '#' && cur === undefined) {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl;
    } else if (mode === 'shell' && OPS.some((o) => text.startsWith(o, i))) {
      push();
      const op = OPS.find((o) => text.startsWith(o, i)) as string;
      ops.push({ op, before: words.length });
      i += op.length;
    } else {
      add(c);
      i++;
    }
  }
  push();
  return { ok: true, value: { words, ops, unresolved, substitution } };
}

/** The character a C escape inside systemd's double quotes stands for (`\n`, `\t`, `\"`, `\\`). */
function cEscape(e: string): string {
  const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', "'": "'", $: '$' };
  return map[e] ?? e;
}

/**
 * `Environment=` as `systemctl show` prints it (`A=1 "B=two words"`) into a map; `EnvironmentFile`
 * text (`KEY=value` lines, `#` comments, optional `export`, quotes) likewise.
 */
export function parseEnvironment(text: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (!text) return env;
  const lexed = lexWords(text, 'argv');
  const words = lexed.ok ? lexed.value.words.map((w) => w.text) : text.split(/\s+/);
  for (const w of words) assign(env, w);
  return env;
}

export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    if (NAME.exec(key)?.[0] === key) env[key] = value;
  }
  return env;
}

function assign(env: Record<string, string>, word: string): void {
  const eq = word.indexOf('=');
  if (eq <= 0) return;
  const key = word.slice(0, eq);
  if (NAME.exec(key)?.[0] === key) env[key] = word.slice(eq + 1);
}

/** `NAME=value` (a leading assignment in a shell command or after `env`), or undefined. */
export function assignment(word: string): [string, string] | undefined {
  const eq = word.indexOf('=');
  if (eq <= 0) return undefined;
  const key = word.slice(0, eq);
  return NAME.exec(key)?.[0] === key ? [key, word.slice(eq + 1)] : undefined;
}
