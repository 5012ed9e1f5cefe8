/**
 * A server's options as its own parser would read them: `--port 8000` and `--port=8000`, `--no-X`
 * for a boolean X, aliases (`-m` for `--model`), the last occurrence winning. A flag not known to
 * be boolean takes the next word as its value unless that word is itself an option.
 */

export interface FlagSpec {
  /** Options that take no value (canonical names, without dashes). */
  booleans?: readonly string[];
  /** Other spellings → canonical name, dashes included: `{ '-m': 'model', '--model': 'model' }`. */
  aliases?: Readonly<Record<string, string>>;
  /** argparse-style `--gpu_memory_utilization` for `--gpu-memory-utilization` (vLLM accepts both). */
  underscores?: boolean;
}

export class Flags {
  private readonly values = new Map<string, string[]>();
  readonly positional: string[] = [];

  constructor(args: readonly string[], spec: FlagSpec = {}) {
    const booleans = new Set(spec.booleans ?? []);
    const canonical = (raw: string): string => {
      const alias = spec.aliases?.[raw];
      if (alias !== undefined) return alias;
      let name = raw.replace(/^--?/, '');
      if (spec.underscores) name = name.replace(/_/g, '-');
      return spec.aliases?.[`--${name}`] ?? name;
    };
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === '--') {
        this.positional.push(...args.slice(i + 1));
        break;
      }
      if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
        this.positional.push(a);
        continue;
      }
      const eq = a.indexOf('=');
      const name = canonical(eq > 0 ? a.slice(0, eq) : a);
      if (eq > 0) {
        this.put(name, a.slice(eq + 1));
      } else if (booleans.has(name)) {
        this.put(name, 'true');
      } else if (name.startsWith('no-') && booleans.has(name.slice(3))) {
        this.put(name.slice(3), 'false');
      } else if (i + 1 < args.length && (!args[i + 1].startsWith('-') || /^-\d/.test(args[i + 1]))) {
        this.put(name, args[++i]);
      } else {
        this.put(name, 'true');
      }
    }
  }

  private put(name: string, value: string): void {
    this.values.set(name, [...(this.values.get(name) ?? []), value]);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The last value given, or undefined. */
  get(name: string): string | undefined {
    const v = this.values.get(name);
    return v?.[v.length - 1];
  }

  all(name: string): string[] {
    return this.values.get(name) ?? [];
  }

  /** A boolean option: given without a value, `=true`/`=1`, or switched off by `--no-X` / `=false`. */
  bool(name: string): boolean {
    const v = this.get(name)?.toLowerCase();
    return v !== undefined && v !== 'false' && v !== '0' && v !== 'no' && v !== 'off';
  }
}

/** A TCP port written as a whole number 1-65535, else undefined. */
export function portNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  return n >= 1 && n <= 65535 ? n : undefined;
}
