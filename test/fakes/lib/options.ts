// Command-line options shared by every fake: `--name value`, `--name=value`, repeatable lists,
// `--config FILE.json` (same names, so a systemd unit's ExecStart stays short) and `--help`.
import { readFileSync } from 'node:fs';

export type OptionKind = 'int' | 'number' | 'string' | 'onoff' | 'flag' | 'list';
export type OptionValue = number | string | boolean | string[];

export interface OptionSpec {
  name: string;
  kind: OptionKind;
  default?: OptionValue;
  help: string;
}

/** Options every fake server understands (the fake adds its own). */
export function commonOptions(defaults: { port: number; startupMs: number; stopMs: number }): OptionSpec[] {
  return [
    { name: 'port', kind: 'int', default: defaults.port, help: 'TCP port; 0 = pick a free one (first stdout line is "listening on PORT")' },
    { name: 'host', kind: 'string', default: '127.0.0.1', help: 'address to listen on' },
    { name: 'config', kind: 'string', help: 'JSON file with the same options ({"port":7071,"fault":["/sleep:500"]}); CLI wins' },
    { name: 'time-scale', kind: 'number', default: 1, help: 'divide every duration by this (10 = ten times faster)' },
    { name: 'startup-ms', kind: 'number', default: defaults.startupMs, help: 'cold start: the port is not listened on until then' },
    { name: 'stop-ms', kind: 'number', default: defaults.stopMs, help: 'SIGTERM until the GPU shows the memory freed; the process exits at ~70% of it' },
    { name: 'gpu-dir', kind: 'string', help: 'fake GPU directory to publish held VRAM in (nothing published without it)' },
    { name: 'gpu-index', kind: 'int', default: 0, help: 'GPU index the memory is held on' },
    { name: 'release-lag-ms', kind: 'number', help: 'override every release lag (sleep, unload, stop): "memory not released in time"' },
    { name: 'oom', kind: 'onoff', default: false, help: 'refuse to grow past --gpu-total-mb (reads the GPU dir, as a CUDA allocation would fail)' },
    { name: 'gpu-total-mb', kind: 'int', default: 32768, help: 'GPU size for --oom' },
    { name: 'fault', kind: 'list', default: [], help: 'ENDPOINT:KIND[:AFTER_N[:TIMES]], KIND = 500|hang|crash|refuse|engine-dead; repeatable' },
  ];
}

export class Options {
  constructor(
    private readonly specs: OptionSpec[],
    private readonly values: Map<string, OptionValue>,
  ) {}

  private get(name: string): OptionValue | undefined {
    if (!this.specs.some((s) => s.name === name)) throw new Error(`fake bug: unknown option ${name}`);
    return this.values.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  num(name: string): number {
    const v = this.get(name);
    if (typeof v !== 'number') throw new Error(`--${name} is required`);
    return v;
  }

  optNum(name: string): number | undefined {
    const v = this.get(name);
    return typeof v === 'number' ? v : undefined;
  }

  str(name: string): string {
    const v = this.get(name);
    if (typeof v !== 'string') throw new Error(`--${name} is required`);
    return v;
  }

  optStr(name: string): string | undefined {
    const v = this.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  bool(name: string): boolean {
    return this.get(name) === true;
  }

  list(name: string): string[] {
    const v = this.get(name);
    return Array.isArray(v) ? v : [];
  }

  get timeScale(): number {
    return this.num('time-scale');
  }

  /** A real-world duration option in ms, divided by --time-scale. */
  ms(name: string): number {
    return this.num(name) / this.timeScale;
  }

  /** A real-world duration in ms (not an option), divided by --time-scale. */
  scale(realMs: number): number {
    return realMs / this.timeScale;
  }
}

function coerce(spec: OptionSpec, raw: unknown, where: string): OptionValue {
  const fail = (): never => {
    throw new Error(`${where}: --${spec.name} expects ${spec.kind}, got ${JSON.stringify(raw)}`);
  };
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) fail();
      return n;
    }
    case 'string':
      if (typeof raw !== 'string' && typeof raw !== 'number') fail();
      return String(raw);
    case 'onoff':
    case 'flag':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'on' || raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'off' || raw === 'false' || raw === '0' || raw === 'no') return false;
      return fail();
    case 'list':
      if (Array.isArray(raw)) return raw.map(String);
      if (typeof raw === 'string') return [raw];
      return fail();
  }
}

export function usage(program: string, summary: string, specs: OptionSpec[]): string {
  const lines = [`usage: node ${program}.js --port N [options]`, '', summary, '', 'options:'];
  for (const s of specs) {
    const arg = s.kind === 'flag' ? '' : s.kind === 'onoff' ? ' on|off' : s.kind === 'list' ? ' VALUE (repeatable)' : ' VALUE';
    const def = s.default === undefined || (Array.isArray(s.default) && s.default.length === 0) ? '' : ` [default ${s.kind === 'onoff' ? (s.default ? 'on' : 'off') : String(s.default)}]`;
    lines.push(`  --${s.name}${arg}`.padEnd(34) + ` ${s.help}${def}`);
  }
  lines.push('  --help'.padEnd(34) + ' print this and exit');
  lines.push('', 'Durations are real-world milliseconds, divided by --time-scale.');
  return lines.join('\n');
}

/** Parses argv (without node and script); prints usage and exits on --help, exits 2 on a bad option. */
export function parseOptions(program: string, summary: string, specs: OptionSpec[], argv: string[]): Options {
  try {
    return parseOrThrow(program, summary, specs, argv);
  } catch (err) {
    process.stderr.write(`${program}: ${(err as Error).message}\nTry --help.\n`);
    process.exit(2);
  }
}

function parseOrThrow(program: string, summary: string, specs: OptionSpec[], argv: string[]): Options {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const cli = new Map<string, OptionValue>();
  const put = (target: Map<string, OptionValue>, spec: OptionSpec, value: OptionValue): void => {
    if (spec.kind === 'list') {
      const prev = target.get(spec.name);
      target.set(spec.name, [...(Array.isArray(prev) ? prev : []), ...(value as string[])]);
    } else target.set(spec.name, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage(program, summary, specs) + '\n');
      process.exit(0);
    }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = byName.get(name);
    if (!spec) throw new Error(`unknown option --${name}`);
    let raw: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (raw === undefined && spec.kind !== 'flag') {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      raw = argv[++i];
    }
    put(cli, spec, coerce(spec, raw ?? true, 'command line'));
  }
  const values = new Map<string, OptionValue>();
  for (const s of specs) if (s.default !== undefined) values.set(s.name, s.default);
  const configFile = cli.get('config');
  if (typeof configFile === 'string') {
    const parsed: unknown = JSON.parse(readFileSync(configFile, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${configFile}: expected a JSON object`);
    for (const [key, raw] of Object.entries(parsed)) {
      // Accept both "sleep-ms-l1" and "sleepMsL1".
      const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const spec = byName.get(name);
      if (!spec) throw new Error(`${configFile}: unknown option ${JSON.stringify(key)}`);
      values.set(name, coerce(spec, raw, configFile));
    }
  }
  for (const [name, value] of cli) values.set(name, value);
  const ts = values.get('time-scale');
  if (typeof ts === 'number' && ts <= 0) throw new Error('--time-scale must be > 0');
  return new Options(specs, values);
}
