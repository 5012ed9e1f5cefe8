import { Document, isMap, isScalar, isSeq, parseDocument, YAMLMap, type Scalar } from 'yaml';
import { areAlternatives } from '../config/alternatives';
import { oneLine } from '../config/importOriginal';
import { parseConfig } from '../config/load';
import { formatProblem, type Config } from '../config/types';
import type { Draft, Existing, NotAdded, Proposal } from './proposal';
import { hiddenOrigin } from './summary';

/**
 * The proposal as gpumod.yaml text: new services and modes added to the current file (its services,
 * modes and comments kept as they are, nothing removed), each value commented with where it comes
 * from, built with the YAML library's document API and validated by the config loader before anyone
 * is offered it. Pure.
 */

/** How the new services are grouped into modes. */
export type ModePlan =
  | { kind: 'per-service' }
  | { kind: 'all-in-one'; name: string }
  | { kind: 'groups'; groups: { name: string; services: string[] }[] }
  | { kind: 'none' };

export type Merged =
  | {
      ok: true;
      text: string;
      config: Config;
      services: string[];
      modes: string[];
      /** What was left out on the way, one line each (a mode name taken, alternatives in one mode). */
      notes: string[];
    }
  | { ok: false; problems: string[] };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The services the current file names, by unit (and by `unit|model` for router models). */
export function existingServices(text: string | undefined): { ok: true; existing: Existing } | { ok: false; problem: string } {
  const existing: Existing = { names: new Set(), byUnit: new Map(), modes: new Set() };
  if (text === undefined || text.trim() === '') return { ok: true, existing };
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) return { ok: false, problem: `it is not valid YAML (${oneLine(doc.errors[0].message, 200)}): fix it first` };
  const value = doc.toJS({ maxAliasCount: 200 }) as unknown;
  if (value !== null && value !== undefined && (typeof value !== 'object' || Array.isArray(value))) return { ok: false, problem: 'its top level is not a mapping' };
  const modes = (value as { modes?: unknown } | null)?.modes;
  if (typeof modes === 'object' && modes !== null && !Array.isArray(modes)) for (const m of Object.keys(modes)) existing.modes.add(m);
  const services = (value as { services?: unknown } | null)?.services;
  if (typeof services !== 'object' || services === null || Array.isArray(services)) return { ok: true, existing };
  for (const [name, svc] of Object.entries(services as Record<string, unknown>)) {
    existing.names.add(name);
    const s = svc as { unit?: unknown; model?: unknown; driver?: unknown } | null;
    if (typeof s?.unit !== 'string') continue;
    existing.byUnit.set(s.driver === 'llamacpp' && typeof s.model === 'string' ? `${s.unit}|${s.model}` : s.unit, name);
  }
  return { ok: true, existing };
}

/** Comment text for the YAML library: one line each, control characters out, leading indentation kept. */
function comment(lines: readonly string[]): string {
  return lines.map((l) => ` ${/^ */.exec(l)?.[0] ?? ''}${oneLine(l, 300)}`).join('\n');
}

function serviceNode(doc: Document, d: Draft): YAMLMap {
  const node = doc.createNode(d.service) as YAMLMap;
  for (const [key, text] of Object.entries(d.comments)) {
    const pair = node.items.find((p) => (p.key as Scalar).value === key);
    if (!pair) continue;
    const target = pair.value as { comment?: string | null };
    if (isMap(pair.value)) (pair.key as Scalar).commentBefore = comment([text]);
    else target.comment = comment([text]);
  }
  const sleep = node.get('sleep', true);
  if (isMap(sleep)) sleep.flow = true;
  return node;
}

function modeNode(doc: Document, services: string[], description?: string): YAMLMap {
  const node = doc.createNode(description ? { description, services } : { services }) as YAMLMap;
  const seq = node.get('services', true);
  if (isSeq(seq)) seq.flow = true;
  return node;
}

/** Modes as the plan says, for the drafts added; names taken keep the user's mode, and say so. */
function modesFor(plan: ModePlan, drafts: readonly Draft[], taken: ReadonlySet<string>, notes: string[]): { name: string; services: string[]; description?: string }[] {
  const out: { name: string; services: string[]; description?: string }[] = [];
  const free = (name: string): boolean => {
    if (!taken.has(name) && !out.some((m) => m.name === name)) return true;
    notes.push(`mode ${name} already exists: kept as it is`);
    return false;
  };
  const fit = (name: string, names: string[]): string[] => {
    const kept: Draft[] = [];
    for (const n of names) {
      const d = drafts.find((x) => x.name === n);
      if (!d) continue;
      const mate = kept.find((k) => areAlternatives(endpoint(k), endpoint(d)));
      if (mate) notes.push(`mode ${name}: ${d.name} left out, it listens on the same port as ${mate.name} (one runs at a time)`);
      else kept.push(d);
    }
    return kept.map((d) => d.name);
  };
  if (plan.kind === 'per-service') {
    for (const d of drafts) if (free(d.name)) out.push({ name: d.name, services: [d.name] });
  } else if (plan.kind === 'all-in-one') {
    if (free(plan.name)) out.push({ name: plan.name, services: fit(plan.name, drafts.map((d) => d.name)) });
  } else if (plan.kind === 'groups') {
    for (const g of plan.groups) {
      if (!NAME.test(g.name)) {
        notes.push(`mode name ${JSON.stringify(oneLine(g.name, 80))} left out: letters, digits and _.- only, starting with a letter or digit`);
        continue;
      }
      if (free(g.name)) out.push({ name: g.name, services: fit(g.name, g.services) });
    }
  }
  return out;
}

function endpoint(d: Draft): { driver: 'vllm' | 'llamacpp' | 'http' | 'systemd'; unit: string; host: string; port: number } {
  return { driver: d.service.driver as 'vllm', unit: d.unit, host: d.host, port: d.port };
}

function fitNote(mode: { services: string[] }, drafts: readonly Draft[], totals: ReadonlyMap<number, number>): string | undefined {
  const perGpu = new Map<number, number>();
  for (const n of mode.services) {
    const d = drafts.find((x) => x.name === n);
    if (d?.vramMb !== undefined) perGpu.set(d.gpu, (perGpu.get(d.gpu) ?? 0) + d.vramMb);
  }
  for (const [gpu, need] of perGpu) {
    const total = totals.get(gpu);
    if (total !== undefined && need > total) return `needs about ${need} MiB on GPU ${gpu}, which has ${total}: gpumod will refuse it (make smaller modes)`;
  }
  return undefined;
}

function notAddedComment(notAdded: readonly NotAdded[]): string[] {
  const lines: string[] = [];
  const yours = notAdded.filter((n) => n.why !== 'configured' && (!hiddenOrigin(n.origin) || n.why === 'skipped'));
  const packages = notAdded.filter((n) => n.why === 'unrecognised' && hiddenOrigin(n.origin));
  if (yours.length > 0) {
    lines.push('Units not added:');
    for (const n of yours) lines.push(`  ${n.unit}: ${n.reason}`);
  }
  if (packages.length > 0) lines.push(`${packages.length} units of installed packages or generators are not GPU servers gpumod drives.`);
  return lines;
}

const RENDER = { lineWidth: 0, flowCollectionPadding: false } as const;

interface Planned {
  made: { name: string; services: string[]; description?: string }[];
  notes: string[];
}

/** The modes to add: the plan's, and `blank` when the file has no mode without services. */
function plannedModes(doc: Document | undefined, drafts: readonly Draft[], plan: ModePlan): Planned {
  const notes: string[] = [];
  const taken = new Set<string>();
  const before = doc?.get('modes', true);
  let hasEmpty = false;
  if (isMap(before)) {
    for (const p of before.items) {
      taken.add(String((p.key as Scalar).value));
      const services = isMap(p.value) ? p.value.get('services', true) : undefined;
      if (isSeq(services) && services.items.length === 0) hasEmpty = true;
    }
  }
  const made = modesFor(plan, drafts, taken, notes);
  if (!hasEmpty && !taken.has('blank') && !made.some((m) => m.name === 'blank') && drafts.length > 0) made.push({ name: 'blank', services: [], description: 'Nothing on the GPU' });
  return { made, notes };
}

function servicesMap(doc: Document, drafts: readonly Draft[], intro: string[]): YAMLMap {
  const map = new YAMLMap();
  drafts.forEach((d, i) => {
    const key = doc.createNode(d.name) as Scalar;
    key.commentBefore = comment([...(i === 0 ? intro : []), ...d.header]);
    map.items.push(doc.createPair(key, serviceNode(doc, d)));
  });
  return map;
}

function modesMap(doc: Document, made: Planned['made'], drafts: readonly Draft[], totals: ReadonlyMap<number, number>): YAMLMap {
  const map = new YAMLMap();
  for (const m of made) {
    const key = doc.createNode(m.name) as Scalar;
    const fit = fitNote(m, drafts, totals);
    if (fit) key.commentBefore = comment([`warning: ${fit}`]);
    map.items.push(doc.createPair(key, modeNode(doc, m.services, m.description)));
  }
  return map;
}

/** A whole new file, built as one document. */
function freshFile(proposal: Pick<Proposal, 'notAdded' | 'gpuTotals'>, drafts: readonly Draft[], plan: ModePlan, planned: Planned, day: string): string {
  const doc = new Document({});
  doc.commentBefore = comment([
    `gpumod configuration, detected from your systemd user units on ${day}.`,
    'Each value says where it comes from: measured now, read from the command line, or guessed.',
    'Check it with `gpumod doctor`; the README ("Configuration") explains every key.',
  ]);
  const root = doc.contents as YAMLMap;
  root.items.push(doc.createPair('services', servicesMap(doc, drafts, [])));
  const modes = modesMap(doc, planned.made, drafts, proposal.gpuTotals);
  if (plan.kind === 'per-service' && drafts.length > 1) {
    modes.comment = comment(['A mode can hold several services that fit together, e.g.', `  together: { services: [${drafts.slice(0, 2).map((d) => d.name).join(', ')}] }`]);
  }
  root.items.push(doc.createPair('modes', modes));
  const trailer = notAddedComment(proposal.notAdded);
  if (trailer.length > 0) doc.comment = comment(trailer);
  return doc.toString(RENDER);
}

const lineStart = (text: string, offset: number): number => text.lastIndexOf('\n', offset - 1) + 1;

/**
 * Where lines go at the end of a root key's section: before the next root key (or the end), and
 * before the blank lines and column-0 comments just above it, which belong to what follows.
 */
function sectionEnd(text: string, doc: Document.Parsed, pairKeyStart: number): number {
  const root = doc.contents as YAMLMap;
  const next = root.items.map((p) => (p.key as Scalar).range?.[0] ?? -1).filter((o) => o > pairKeyStart).sort((a, b) => a - b)[0];
  let at = next === undefined ? text.length : lineStart(text, next);
  for (;;) {
    const prevEnd = at > 0 && text[at - 1] === '\n' ? at - 1 : at;
    if (prevEnd === 0 || prevEnd === at) break;
    const start = lineStart(text, prevEnd);
    const line = text.slice(start, prevEnd).replace(/\r$/, '');
    if (line.trim() !== '' && !line.startsWith('#')) break;
    at = start;
  }
  return at;
}

interface Edit {
  at: number;
  /** Characters replaced from `at` (an empty `{}` taken out). */
  remove: number;
  text: string;
}

/**
 * The edits that add `items` to the root key `key` in the user's text, leaving every byte of it in
 * place: under a block mapping at its indentation; under `key: {}` or `key:` after taking the `{}`
 * out; as a new section at the end when the key is missing. Undefined where only a re-render would do
 * (a flow mapping with entries).
 */
function sectionEdits(text: string, doc: Document.Parsed, key: string, items: YAMLMap, eol: string): Edit[] | undefined {
  if (items.items.length === 0) return [];
  const root = doc.contents as YAMLMap;
  const pair = root.items.find((p) => (p.key as Scalar).value === key);
  const block = (indent: number, step: number): string => {
    const sub = new Document(null);
    sub.contents = items as unknown as typeof sub.contents;
    const lines = sub.toString({ ...RENDER, indent: step }).replace(/\n$/, '').split('\n');
    return lines.map((l) => (l === '' ? l : ' '.repeat(indent) + l)).join(eol) + eol;
  };
  if (!pair) {
    const at = sectionEnd(text, doc, Infinity);
    const sep = at > 0 && text[at - 1] !== '\n' ? eol : '';
    return [{ at, remove: 0, text: `${sep}${key}:${eol}${block(2, 2)}` }];
  }
  const keyStart = (pair.key as Scalar).range?.[0] ?? 0;
  const value = pair.value as YAMLMap | Scalar | null;
  const at = sectionEnd(text, doc, keyStart);
  const sep = at > 0 && text[at - 1] !== '\n' ? eol : '';
  if (isMap(value) && !value.flow && value.items.length > 0) {
    const first = value.items[0];
    const firstStart = (first.key as Scalar).range?.[0] ?? 0;
    const indent = firstStart - lineStart(text, firstStart);
    const child = isMap(first.value) && !first.value.flow ? ((first.value.items[0]?.key as Scalar | undefined)?.range?.[0] ?? -1) : -1;
    const step = child > 0 ? Math.max(1, child - lineStart(text, child) - indent) : 2;
    return [{ at, remove: 0, text: sep + block(indent, step) }];
  }
  const empty = value === null || (isScalar(value) && (value.value === null || value.value === undefined)) || (isMap(value) && value.flow && value.items.length === 0);
  if (!empty) return undefined;
  const edits: Edit[] = [{ at, remove: 0, text: sep + block(2, 2) }];
  if (isMap(value) && value.range) {
    // `key: {}` → `key:`: the blanks before the braces go too when nothing but the line's end follows.
    let from = value.range[0];
    const end = value.range[1];
    if (/^[ \t]*(\r?\n|$)/.test(text.slice(end))) while (from > 0 && (text[from - 1] === ' ' || text[from - 1] === '\t')) from--;
    edits.push({ at: from, remove: end - from, text: '' });
  }
  return edits;
}

/**
 * `current` (the file's text, undefined when there is none) with `drafts` added and modes made as
 * `plan` says. An existing file keeps every byte: the new entries are inserted, nothing is
 * re-rendered. Valid by the config loader, or the loader's problems.
 */
export function mergeProposal(current: string | undefined, file: string, proposal: Pick<Proposal, 'notAdded' | 'gpuTotals'>, drafts: readonly Draft[], plan: ModePlan, when = new Date()): Merged {
  const day = when.toISOString().slice(0, 10);
  let text: string;
  let notes: string[];
  let made: Planned['made'];
  if (current === undefined || current.trim() === '') {
    ({ made, notes } = plannedModes(undefined, drafts, plan));
    text = freshFile(proposal, drafts, plan, { made, notes }, day);
  } else {
    const doc = parseDocument(current);
    if (doc.errors.length > 0) return { ok: false, problems: [`${file}: not valid YAML (${oneLine(doc.errors[0].message, 200)}): fix it first`] };
    if (!isMap(doc.contents)) return { ok: false, problems: [`${file}: its top level is not a mapping`] };
    ({ made, notes } = plannedModes(doc, drafts, plan));
    const eol = current.includes('\r\n') ? '\r\n' : '\n';
    const owner = new Document({});
    const services = sectionEdits(current, doc, 'services', servicesMap(owner, drafts, [`added by Detect Services on ${day}:`]), eol);
    const modes = sectionEdits(current, doc, 'modes', modesMap(owner, made, drafts, proposal.gpuTotals), eol);
    if (!services || !modes) {
      return { ok: false, problems: [`${file}: its services or modes are written as one-line {…} mappings; gpumod adds entries to block mappings only (write them one per line, then detect again)`] };
    }
    text = current;
    // Later offsets first, so earlier ones stay right; at one offset, services before modes.
    const edits = [...services.map((e, i) => ({ ...e, order: i })), ...modes.map((e, i) => ({ ...e, order: 10 + i }))].sort((a, b) => b.at - a.at || b.order - a.order);
    for (const e of edits) text = text.slice(0, e.at) + e.text + text.slice(e.at + e.remove);
  }
  const check = parseConfig(text, file);
  if (!check.ok) return { ok: false, problems: check.problems.map(formatProblem) };
  return { ok: true, text, config: check.config, services: drafts.map((d) => d.name), modes: made.map((m) => m.name), notes };
}
