/** A small argv parser: `gpumod COMMAND [POSITIONAL…] [--flag [VALUE]]`. No dependency, precise errors. */

export interface ParsedArgs {
  command: string | undefined;
  positional: string[];
  flags: Map<string, string | true>;
}

export class UsageError extends Error {}

/** Flags that take a value; all others are booleans. */
const VALUED = new Set(['config', 'level', 'lines', 'limit', 'output', 'port']);

export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') flags.set('help', true);
    else if (a === '-V') flags.set('version', true);
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (VALUED.has(name)) {
        const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
        flags.set(name, value);
      } else {
        if (eq > 0) throw new UsageError(`--${name} takes no value`);
        flags.set(name, true);
      }
    } else if (a.startsWith('-') && a.length > 1) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      positional.push(a);
    }
  }
  return { command: positional.shift(), positional, flags };
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** Rejects flags the command does not know, so a typo is an error rather than silently ignored. */
export function allowFlags(args: ParsedArgs, allowed: string[]): void {
  for (const name of args.flags.keys()) {
    if (!allowed.includes(name)) throw new UsageError(`unknown option --${name} for "${args.command}"`);
  }
}
