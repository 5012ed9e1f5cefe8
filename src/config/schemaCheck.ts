/**
 * Checks a parsed config against schemas/gpumod.schema.json with the ajv validator generated from it
 * at build time (scripts/schemaValidator.mjs), so the loader and the editor (contributes.yamlValidation)
 * read one schema. ajv's errors become messages in words (the schema's `x-expected`), each with the
 * path of the offending value or key; the loader turns paths into file positions.
 */
import type { ErrorObject } from 'ajv';
import { validate } from 'gpumod:schema-validator';

export type JsonPath = (string | number)[];

export interface SchemaProblem {
  path: JsonPath;
  /** True when the problem is about a key itself (unknown or badly named), not its value. */
  atKey: boolean;
  message: string;
}

/** The parts of a schema node the messages read (errors carry it as `parentSchema`). */
interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, unknown>;
  'x-expected'?: string;
  /** A secret (a token): messages never repeat its value. */
  'x-secret'?: boolean;
}

/** Describes a value for a message: strings quoted, long ones cut, objects by kind. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const s = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(s);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

/** `/services/a~1b/0` → ['services', 'a/b', '0'] (JSON Pointer, RFC 6901). */
function pointerPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Whether `path` is `prefix` or inside it; a trailing '' in `prefix` stands for any child (not itself). */
function under(path: JsonPath, prefix: JsonPath): boolean {
  const last = prefix.length - 1;
  if (path.length < prefix.length) return false;
  return prefix.every((seg, i) => (i === last && seg === '') || String(path[i]) === String(seg));
}

/**
 * Which of several errors on one value is reported: a value of the wrong type says only that; a
 * string too long is not also said to miss its pattern. Lower ranks first.
 */
const RANK: Record<string, number> = { type: 0, enum: 1, maxLength: 2, minLength: 2, pattern: 3, minimum: 4, maximum: 4, maxItems: 5, maxProperties: 5 };

function expected(node: SchemaNode | undefined, fallback: string): string {
  return node?.['x-expected'] ?? fallback;
}

function message(e: ErrorObject, name: string): string {
  const node = e.parentSchema as SchemaNode | undefined;
  const p = e.params as Record<string, unknown>;
  const value = node?.['x-secret'] ? '(the value, not shown)' : show(e.data);
  switch (e.keyword) {
    case 'type': {
      const types = Array.isArray(p.type) ? p.type : String(p.type).split(',');
      const words = types.map((t) => TYPE_WORDS[String(t)] ?? String(t)).join(' or ');
      return `${name}: expected ${expected(node, words)}, got ${value}`;
    }
    case 'enum':
      return `${name}: ${value} is not one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${name}: ${value} is not ${expected(node, `matching ${String(p.pattern)}`)}`;
    case 'maxLength':
      return `${name}: ${value} is longer than ${String(p.limit)} characters`;
    case 'minLength':
      return `${name}: ${value} is shorter than ${String(p.limit)} characters (expected ${expected(node, `at least ${String(p.limit)} characters`)})`;
    case 'minimum':
      return `${name}: ${String(e.data)} is below the minimum ${String(p.limit)}`;
    case 'maximum':
      return `${name}: ${String(e.data)} is above the maximum ${String(p.limit)}`;
    case 'maxItems':
      return `${name}: ${(e.data as unknown[]).length} items, at most ${String(p.limit)} allowed`;
    case 'maxProperties':
      return `${name}: ${Object.keys(e.data as object).length} entries, at most ${String(p.limit)} allowed`;
    case 'required':
      return `${name}: missing required key "${String(p.missingProperty)}"`;
    default:
      return `${name}: ${value} ${e.message ?? 'is not valid'}`;
  }
}

/** Every schema problem of `value`, one per offending value or key. */
export function checkSchema(value: unknown): SchemaProblem[] {
  if (validate(value)) return [];
  const errors = validate.errors ?? [];
  const out: SchemaProblem[] = [];
  // Paths whose content is not looked into: a badly named key's value, an oversized list's items.
  const cut: JsonPath[] = [];
  const names = new Set<SchemaProblem>();
  const byValue = new Map<string, { rank: number; problem: SchemaProblem }>();
  for (const e of errors) {
    const path = pointerPath(e.instancePath);
    if (e.propertyName !== undefined && e.keyword !== 'propertyNames') {
      const node = e.parentSchema as SchemaNode | undefined;
      const keyPath = [...path, e.propertyName];
      const problem = { path: keyPath, atKey: true, message: `${show(e.propertyName)} is not a valid name (expected ${expected(node, 'a valid name')})` };
      cut.push(keyPath);
      names.add(problem);
      out.push(problem);
      continue;
    }
    if (e.keyword === 'propertyNames' || e.keyword === 'if') continue; // restated by the errors they wrap
    const name = path.length ? path[path.length - 1] : 'the file';
    if (e.keyword === 'additionalProperties') {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((e.parentSchema as SchemaNode).properties ?? {}).join(', ');
      out.push({ path: [...path, key], atKey: true, message: `unknown key ${show(key)} in ${name} (expected one of: ${known})` });
      continue;
    }
    if (e.keyword === 'required') {
      out.push({ path, atKey: false, message: message(e, name) });
      continue;
    }
    if (e.keyword === 'maxItems' || e.keyword === 'maxProperties') cut.push([...path, '']);
    const rank = RANK[e.keyword] ?? 9;
    const key = JSON.stringify(path);
    const prior = byValue.get(key);
    if (!prior || rank < prior.rank) byValue.set(key, { rank, problem: { path, atKey: false, message: message(e, name) } });
  }
  out.push(...[...byValue.values()].map((v) => v.problem));
  return out.filter((p) => names.has(p) || !cut.some((c) => under(p.path, c)));
}
