// Unit files gpumod writes (the demo's workstation, the tests' fakes): quoting that hands every
// argument to the program unchanged, whatever it contains.

export interface UnitSpec {
  /** argv; the first element should be an absolute path (process.execPath for node). */
  execStart: readonly string[];
  env?: Readonly<Record<string, string>>;
  description?: string;
  type?: 'simple' | 'exec' | 'oneshot' | 'notify' | 'forking';
  /** Further [Unit] settings, e.g. { StartLimitBurst: '1' } (values written as is). */
  unit?: Readonly<Record<string, string>>;
  /** Further [Service] settings, e.g. { Restart: 'on-failure', TimeoutStopSec: '5' } (values written as is). */
  service?: Readonly<Record<string, string>>;
}

function cEscape(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * One ExecStart= argument, quoted so systemd hands it to the program unchanged: C escapes inside
 * double quotes, "%" (specifiers) doubled, "$" (variable expansion) doubled. A lone ";" is the one
 * word that must be written escaped instead (it would separate commands).
 */
export function quoteExecArg(arg: string): string {
  if (arg === ';') return '\\;';
  return `"${cEscape(arg).replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** One Environment= assignment: quoted, C-escaped, "%" doubled ("$" is not expanded there). */
export function quoteEnvironment(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`bad environment variable name ${JSON.stringify(key)}`);
  return `"${cEscape(`${key}=${value}`).replace(/%/g, '%%')}"`;
}

export function unitFileText(name: string, spec: UnitSpec): string {
  const lines = ['[Unit]', `Description=${(spec.description ?? `gpumod unit ${name}`).replace(/%/g, '%%').replace(/\n/g, ' ')}`];
  for (const [k, v] of Object.entries(spec.unit ?? {})) lines.push(`${k}=${v}`);
  lines.push('', '[Service]');
  lines.push(`Type=${spec.type ?? 'simple'}`);
  lines.push(`ExecStart=${spec.execStart.map(quoteExecArg).join(' ')}`);
  for (const [k, v] of Object.entries(spec.env ?? {})) lines.push(`Environment=${quoteEnvironment(k, v)}`);
  for (const [k, v] of Object.entries(spec.service ?? {})) lines.push(`${k}=${v}`);
  return `${lines.join('\n')}\n`;
}

