/**
 * A small interpreter for the subset of JSON Schema (draft-07) that schemas/gpumod.schema.json uses,
 * so the loader and the editor (contributes.yamlValidation) read one schema. Problems carry the path
 * of the offending value; the loader turns paths into file positions.
 */

export type JsonPath = (string | number)[];

export interface SchemaProblem {
  path: JsonPath;
  /** True when the problem is about a key itself (unknown or badly named), not its value. */
  atKey: boolean;
  message: string;
}

export interface Schema {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  items?: Schema;
  oneOf?: Schema[];
  description?: string;
  /** What a matching value looks like, in words: used instead of the raw pattern in messages. */
  'x-expected'?: string;
  definitions?: Record<string, Schema>;
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

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

function typeMatches(type: Schema['type'], value: unknown): boolean {
  const actual = typeOf(value);
  if (type === 'number') return actual === 'number' || actual === 'integer';
  return actual === type;
}

export class SchemaChecker {
  private readonly regexCache = new Map<string, RegExp>();

  constructor(private readonly root: Schema) {}

  check(value: unknown): SchemaProblem[] {
    const problems: SchemaProblem[] = [];
    this.visit(this.root, value, [], problems);
    return problems;
  }

  private resolve(schema: Schema): Schema {
    let s = schema;
    for (let hops = 0; s.$ref !== undefined && hops < 16; hops++) {
      const name = s.$ref.replace('#/definitions/', '');
      const target = this.root.definitions?.[name];
      if (!target) throw new Error(`schema: unresolved $ref ${s.$ref}`);
      s = target;
    }
    return s;
  }

  private regex(pattern: string): RegExp {
    let re = this.regexCache.get(pattern);
    if (!re) {
      re = new RegExp(pattern, 'u');
      this.regexCache.set(pattern, re);
    }
    return re;
  }

  private visit(schemaIn: Schema, value: unknown, path: JsonPath, out: SchemaProblem[]): void {
    const schema = this.resolve(schemaIn);
    const name = path.length ? String(path[path.length - 1]) : 'the file';
    if (schema.oneOf) {
      this.visitOneOf(schema.oneOf, value, path, out);
      return;
    }
    if (schema.type && !typeMatches(schema.type, value)) {
      out.push({ path, atKey: false, message: `${name}: expected ${TYPE_WORDS[schema.type]}, got ${show(value)}` });
      return;
    }
    if (schema.enum && !schema.enum.includes(value)) {
      const allowed = schema.enum.map((v) => JSON.stringify(v)).join(', ');
      out.push({ path, atKey: false, message: `${name}: ${show(value)} is not one of ${allowed}` });
      return;
    }
    if (typeof value === 'string') this.checkString(schema, value, path, name, out);
    if (typeof value === 'number') this.checkNumber(schema, value, path, name, out);
    if (Array.isArray(value)) this.checkArray(schema, value, path, name, out);
    else if (value !== null && typeof value === 'object') {
      this.checkObject(schema, value as Record<string, unknown>, path, name, out);
    }
  }

  private visitOneOf(options: Schema[], value: unknown, path: JsonPath, out: SchemaProblem[]): void {
    const resolved = options.map((o) => this.resolve(o));
    // Report against the one branch whose type fits, so the message is about the user's intent.
    const fitting = resolved.filter((o) => !o.type || typeMatches(o.type, value));
    if (fitting.length === 1) {
      this.visit(fitting[0], value, path, out);
      return;
    }
    if (fitting.some((o) => this.check1(o, value))) return;
    const name = path.length ? String(path[path.length - 1]) : 'the file';
    const kinds = resolved.map((o) => (o.enum ? o.enum.map((v) => JSON.stringify(v)).join(', ') : TYPE_WORDS[o.type ?? 'object']));
    out.push({ path, atKey: false, message: `${name}: ${show(value)} is not one of ${kinds.join(', or ')}` });
  }

  private check1(schema: Schema, value: unknown): boolean {
    const probe: SchemaProblem[] = [];
    this.visit(schema, value, [], probe);
    return probe.length === 0;
  }

  private checkString(schema: Schema, value: string, path: JsonPath, name: string, out: SchemaProblem[]): void {
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      out.push({ path, atKey: false, message: `${name}: ${show(value)} is longer than ${schema.maxLength} characters` });
    } else if (schema.pattern && !this.regex(schema.pattern).test(value)) {
      out.push({ path, atKey: false, message: `${name}: ${show(value)} is not ${schema['x-expected'] ?? `matching ${schema.pattern}`}` });
    }
  }

  private checkNumber(schema: Schema, value: number, path: JsonPath, name: string, out: SchemaProblem[]): void {
    if (schema.minimum !== undefined && value < schema.minimum) {
      out.push({ path, atKey: false, message: `${name}: ${value} is below the minimum ${schema.minimum}` });
    } else if (schema.maximum !== undefined && value > schema.maximum) {
      out.push({ path, atKey: false, message: `${name}: ${value} is above the maximum ${schema.maximum}` });
    }
  }

  private checkArray(schema: Schema, value: unknown[], path: JsonPath, name: string, out: SchemaProblem[]): void {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      out.push({ path, atKey: false, message: `${name}: ${value.length} items, at most ${schema.maxItems} allowed` });
      return;
    }
    if (schema.items) value.forEach((item, i) => this.visit(schema.items as Schema, item, [...path, i], out));
  }

  private checkObject(schema: Schema, value: Record<string, unknown>, path: JsonPath, name: string, out: SchemaProblem[]): void {
    const keys = Object.keys(value);
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
      out.push({ path, atKey: false, message: `${name}: ${keys.length} entries, at most ${schema.maxProperties} allowed` });
      return;
    }
    for (const req of schema.required ?? []) {
      if (!(req in value)) out.push({ path, atKey: false, message: `${name}: missing required key "${req}"` });
    }
    const known = schema.properties ?? {};
    for (const key of keys) {
      const keyPath = [...path, key];
      if (schema.propertyNames?.pattern && !this.regex(schema.propertyNames.pattern).test(key)) {
        out.push({ path: keyPath, atKey: true, message: `${show(key)} is not a valid name (expected ${schema.propertyNames['x-expected'] ?? schema.propertyNames.pattern})` });
        continue;
      }
      if (key in known) {
        this.visit(known[key], value[key], keyPath, out);
      } else if (schema.additionalProperties === false) {
        const expected = Object.keys(known).join(', ');
        out.push({ path: keyPath, atKey: true, message: `unknown key ${show(key)} in ${name} (expected one of: ${expected})` });
      } else if (typeof schema.additionalProperties === 'object') {
        this.visit(schema.additionalProperties, value[key], keyPath, out);
      }
    }
  }
}
