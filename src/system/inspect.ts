// Pure parsers for what `gpumod doctor` inspects: a unit as `systemctl --user cat` prints it (the
// file and its drop-ins), the command line it runs, and the kernel's socket tables /proc/net/tcp{,6}.
// No I/O here: the command reads, these functions interpret.

/** What the [Service] section of a unit (with its drop-ins applied) says about the process it runs. */
export interface ServiceSection {
  /** The effective ExecStart= command lines (usually one), each split into words as systemd splits them. */
  execStart: string[][];
  /** Environment= assignments, later ones winning. */
  environment: Map<string, string>;
  /** EnvironmentFile= paths (a leading "-", "missing is fine", removed). */
  environmentFiles: string[];
}

/**
 * Splits a value into words the way systemd does for ExecStart= and Environment=: whitespace
 * separates, "double" and 'single' quotes group, C escapes (\n, \t, \x41, \\, \", \') are decoded,
 * and the specifier "%%" stands for "%" (other specifiers are left as written).
 */
export function splitUnitWords(value: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && /\s/.test(value[i])) i++;
    if (i >= n) break;
    let word = '';
    let quote: string | undefined;
    for (; i < n; i++) {
      const c = value[i];
      if (quote === undefined && /\s/.test(c)) break;
      if (c === quote) {
        quote = undefined;
        continue;
      }
      if (quote === undefined && (c === '"' || c === "'")) {
        quote = c;
        continue;
      }
      if (c === '\\' && i + 1 < n) {
        const [text, used] = cEscape(value, i + 1);
        word += text;
        i += used;
        continue;
      }
      if (c === '%' && value[i + 1] === '%') {
        word += '%';
        i++;
        continue;
      }
      word += c;
    }
    words.push(word);
  }
  return words;
}

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', s: ' ', '\\': '\\', '"': '"', "'": "'" };

/** The escape starting at value[at] (after the backslash): its text and how many characters it used. */
function cEscape(value: string, at: number): [string, number] {
  const c = value[at];
  if (c in SIMPLE_ESCAPES) return [SIMPLE_ESCAPES[c], 1];
  if (c === 'x' && /^[0-9a-fA-F]{2}$/.test(value.slice(at + 1, at + 3))) return [String.fromCharCode(parseInt(value.slice(at + 1, at + 3), 16)), 3];
  if (/^[0-7]{3}$/.test(value.slice(at, at + 3))) return [String.fromCharCode(parseInt(value.slice(at, at + 3), 8)), 3];
  return [c, 1];
}

/** Lines of a unit file with comments dropped and "\"-continued lines joined. */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (pending === '' && (trimmed.startsWith('#') || trimmed.startsWith(';'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    out.push((pending + line).trim());
    pending = '';
  }
  if (pending) out.push(pending.trim());
  return out;
}

/** ExecStart= prefixes: "@" (own argv[0]), "-" (failure ignored), ":", "+", "!", "!!" (privileges). */
function stripExecPrefixes(words: string[]): string[] {
  if (words.length === 0) return words;
  const m = /^[@\-:+!]+/.exec(words[0]);
  if (!m) return words;
  const first = words[0].slice(m[0].length);
  // With "@" the second word is the argv[0] the program sees: the first is still what runs.
  if (m[0].includes('@')) return [first, ...words.slice(2)];
  return first === '' ? words.slice(1) : [first, ...words.slice(1)];
}

/**
 * The [Service] settings of `systemctl cat` output (the unit file, then each drop-in, each headed by
 * a "# /path" comment). An empty `ExecStart=` resets the list, as in drop-ins that replace a command.
 */
export function parseServiceSection(text: string): ServiceSection {
  const section: ServiceSection = { execStart: [], environment: new Map(), environmentFiles: [] };
  let current = '';
  for (const line of logicalLines(text)) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1];
      continue;
    }
    if (current !== 'Service') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'ExecStart') {
      if (value === '') section.execStart = [];
      else section.execStart.push(stripExecPrefixes(splitUnitWords(value)));
    } else if (key === 'Environment') {
      if (value === '') section.environment.clear();
      for (const word of splitUnitWords(value)) {
        const at = word.indexOf('=');
        if (at > 0) section.environment.set(word.slice(0, at), word.slice(at + 1));
      }
    } else if (key === 'EnvironmentFile') {
      if (value === '') section.environmentFiles = [];
      else section.environmentFiles.push(value.replace(/^-/, ''));
    }
  }
  return section;
}

/** KEY=VALUE lines of an EnvironmentFile= (comments, blank lines and `export ` tolerated; quotes removed). */
export function parseEnvironmentFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    env.set(line.slice(0, eq).trim(), value);
  }
  return env;
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh']);

function base(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** A command line as gpumod doctor reads it: the words that reach the server and the variables set on the way. */
export interface CommandView {
  /** Every word, with `sh -c "…"` scripts and `env K=V` prefixes unfolded. */
  words: string[];
  /** Variables set by `env K=V …` or `K=V cmd` inside a shell script. */
  env: Map<string, string>;
  /** The program that runs, as written (after unfolding). */
  program: string;
}

/**
 * Unfolds the usual wrappers so the flags of the real server are visible: `sh -c 'exec vllm serve …'`
 * (the script is split like a shell would, quotes only), `env VAR=1 vllm …`, `exec`, and leading
 * `VAR=value` assignments.
 */
export function commandView(argv: readonly string[]): CommandView {
  const env = new Map<string, string>();
  let words = [...argv];
  for (let guard = 0; guard < 5; guard++) {
    const prog = base(words[0] ?? '');
    const c = words.indexOf('-c');
    if (SHELLS.has(prog) && c > 0 && c + 1 < words.length) {
      words = shellWords(words[c + 1]);
    } else if (prog === 'env') {
      words = words.slice(1);
      while (words.length > 0 && (words[0].startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]))) {
        const w = words.shift() as string;
        if (w === '-u' || w === '--unset' || w === '-C' || w === '--chdir') words.shift();
        else if (!w.startsWith('-')) env.set(w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1));
      }
    } else if (prog === 'exec' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] ?? '')) {
      while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) {
        const w = words.shift() as string;
        env.set(w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1));
      }
      if (words[0] === 'exec') words = words.slice(1);
    } else break;
  }
  return { words, env, program: words[0] ?? '' };
}

/** A shell script split into words: quotes and backslashes honoured, operators (; && |) dropped. */
function shellWords(script: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  const flush = (): void => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < script.length) word = (word ?? '') + script[++i];
      else word = (word ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word = word ?? '';
    } else if (c === '\\' && i + 1 < script.length) {
      word = (word ?? '') + script[++i];
    } else if (/\s/.test(c) || c === ';' || c === '&' || c === '|') {
      flush();
    } else {
      word = (word ?? '') + c;
    }
  }
  flush();
  return words;
}

/** Normalises `--enable_sleep_mode` to `--enable-sleep-mode` (vLLM's parser accepts both). */
function flagName(word: string): string {
  const eq = word.indexOf('=');
  const name = eq > 0 ? word.slice(0, eq) : word;
  return name.startsWith('--') ? `--${name.slice(2).replace(/_/g, '-')}` : name;
}

/** Whether `flag` (e.g. "--enable-sleep-mode") appears, bare or as `--flag=value`. */
export function hasFlag(words: readonly string[], ...flags: string[]): boolean {
  return words.some((w) => flags.includes(flagName(w)));
}

/** The value of `--flag VALUE` or `--flag=VALUE` (the last one wins, as in argparse); undefined when absent. */
export function flagValue(words: readonly string[], ...flags: string[]): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const name = flagName(words[i]);
    if (!flags.includes(name)) continue;
    const eq = words[i].indexOf('=');
    value = eq > 0 && words[i].startsWith('--') ? words[i].slice(eq + 1) : words[i + 1];
  }
  return value;
}

/** One socket of /proc/net/tcp or /proc/net/tcp6. */
export interface TcpSocket {
  address: string;
  port: number;
  /** The kernel's state number; 0x0A is LISTEN. */
  state: number;
  uid: number;
  inode: number;
}

export const TCP_LISTEN = 0x0a;

/** A hex address of /proc/net/tcp{,6}: 32-bit words in host byte order (little-endian on x86 and arm64). */
function hexAddress(hex: string, littleEndian: boolean): string {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8).match(/../g)?.map((b) => parseInt(b, 16)) ?? [];
    bytes.push(...(littleEndian ? word.reverse() : word));
  }
  if (bytes.length === 4) return bytes.join('.');
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) reads better as the IPv4 address it is.
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return compressIpv6(groups);
}

function compressIpv6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The sockets of a /proc/net/tcp or /proc/net/tcp6 table (the header line and malformed lines skipped). */
export function parseProcNetTcp(text: string, littleEndian = true): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
    if (f.length < 10 || !/^\d+:$/.test(f[0])) continue;
    const local = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(f[1]);
    if (!local) continue;
    sockets.push({
      address: hexAddress(local[1], littleEndian),
      port: parseInt(local[2], 16),
      state: parseInt(f[3], 16),
      uid: Number(f[7]),
      inode: Number(f[9]),
    });
  }
  return sockets;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function isWildcard(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || h === '::' || h === '' || h === '*';
}

/**
 * Listening sockets that take `port` away from a server meant to listen on `host`: on the same
 * address, or on a wildcard (which holds the port on every address), or anywhere when `host` is a
 * wildcard itself.
 */
export function listenersOn(sockets: readonly TcpSocket[], port: number, host: string): TcpSocket[] {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  const wanted = bare === 'localhost' ? ['127.0.0.1', '::1'] : [bare];
  return sockets.filter((s) => s.state === TCP_LISTEN && s.port === port && (isWildcard(s.address) || isWildcard(bare) || wanted.includes(s.address)));
}

/** `socket:[12345]` (the target of a /proc/PID/fd link) → 12345. */
export function socketInode(link: string): number | undefined {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}
