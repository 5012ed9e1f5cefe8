import type { ServiceConfig } from '../config/types';
import { visibleDevices } from '../discovery/listen';
import type { Finding } from './doctorCommand';

/**
 * `gpumod doctor`'s card check: the cards a unit's CUDA_VISIBLE_DEVICES lets the server see, against
 * the cards gpumod.yaml plans it on. gpumod budgets each card's memory by `gpus`; a server that runs
 * elsewhere fills a card the plan thinks free. Pure.
 */

/** A card as nvidia-smi lists it. */
export interface Card {
  index: number;
  uuid: string;
  name: string;
}

/** The unit's CUDA_VISIBLE_DEVICES and where it is set. */
export interface DeviceSetting {
  value: string;
  from: 'environment' | 'environment-file' | 'exec-start';
}

const WHERE: Record<DeviceSetting['from'], string> = { environment: 'in Environment=', 'environment-file': 'in an EnvironmentFile=', 'exec-start': 'in ExecStart=' };

export interface DevicesFacts {
  /** Undefined: the unit does not set it (as far as doctor can read). */
  setting?: DeviceSetting;
  /** CUDA_DEVICE_ORDER as the unit sets it. */
  deviceOrder?: string;
  /** nvidia-smi's cards; undefined when it was not asked or shows none. */
  cards?: readonly Card[];
  /** Why the variable may be set where doctor cannot see: unreadable EnvironmentFile=s, a script in ExecStart. */
  hidden?: string;
}

/** What CUDA makes of CUDA_VISIBLE_DEVICES on these cards. */
export type Resolved =
  | { kind: 'cards'; cards: number[] }
  /** An entry that is no card: CUDA ignores it and every entry after it. */
  | { kind: 'invalid'; entry: string; cards: number[] }
  /** A UUID (or MIG instance) that cannot be matched without nvidia-smi's cards. */
  | { kind: 'unknown'; entry: string };

/** Resolves the entries in order, as CUDA does: indices and (unique prefixes of) GPU UUIDs. */
export function resolveDevices(entries: readonly string[], cards: readonly Card[] | undefined): Resolved {
  const seen: number[] = [];
  for (const entry of entries) {
    let index: number | undefined;
    if (/^\d+$/.test(entry)) {
      index = Number(entry);
      if (cards && !cards.some((c) => c.index === index)) return { kind: 'invalid', entry, cards: seen };
    } else if (/^(GPU|MIG)-/i.test(entry)) {
      // A MIG instance is a slice of a card, with a UUID of its own that nvidia-smi's card list lacks.
      if (!cards || /^MIG-/i.test(entry)) return { kind: 'unknown', entry };
      const matches = cards.filter((c) => c.uuid.toLowerCase().startsWith(entry.toLowerCase()));
      if (matches.length !== 1) return { kind: 'invalid', entry, cards: seen };
      index = matches[0].index;
    } else {
      return { kind: 'invalid', entry, cards: seen };
    }
    if (!seen.includes(index)) seen.push(index);
  }
  return { kind: 'cards', cards: seen };
}

export function sameCards(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** "GPU 1", "GPUs 0, 1", "no GPU". */
export function cardsWords(cards: readonly number[]): string {
  if (cards.length === 0) return 'no GPU';
  return `${cards.length === 1 ? 'GPU' : 'GPUs'} ${cards.join(', ')}`;
}

/** How gpumod.yaml writes these cards: `gpu: 1`, `gpus: [0, 1]`. */
export function yamlCards(cards: readonly number[]): string {
  return cards.length === 1 ? `gpu: ${cards[0]}` : `gpus: [${cards.join(', ')}]`;
}

function sorted(cards: readonly number[]): number[] {
  return [...cards].sort((a, b) => a - b);
}

export function checkVisibleDevices(svc: Pick<ServiceConfig, 'name' | 'unit' | 'gpus'>, facts: DevicesFacts): Finding[] {
  const finding = (ok: boolean, severity: Finding['severity'], message: string, fix?: string, check = 'gpus'): Finding => ({
    service: svc.name,
    check,
    ok,
    severity,
    message,
    ...(fix ? { fix } : {}),
  });
  const planned = svc.gpus;
  const edit = `systemctl --user edit --full ${svc.unit}`;
  const restart = `then systemctl --user restart ${svc.unit}`;
  const pin = `Environment=CUDA_VISIBLE_DEVICES=${planned.join(',')}`;
  const hidden = facts.hidden ? ` (${facts.hidden})` : '';

  const s = facts.setting;
  if (s === undefined) {
    // Unpinned on card 0 is what a one-card machine always does: nothing to say.
    if (planned.length === 1 && planned[0] === 0) return [];
    return [
      finding(
        false,
        'warning',
        `${svc.unit} does not set CUDA_VISIBLE_DEVICES${hidden}: the server sees every card and chooses its own (vLLM and llama.cpp start at GPU 0), but gpumod.yaml plans it on ${cardsWords(planned)}`,
        `add ${pin} under [Service] (${edit}), ${restart}`,
      ),
    ];
  }

  const set = `${svc.unit} sets CUDA_VISIBLE_DEVICES=${s.value} (${WHERE[s.from]})`;
  // The fix goes where the setting is: an EnvironmentFile= or ExecStart= would override a new Environment=.
  const inUnit = s.from === 'environment';
  const repin = `${inUnit ? `${pin} in` : `CUDA_VISIBLE_DEVICES=${planned.join(',')} ${WHERE[s.from]} of`} ${svc.unit} (${inUnit ? `${edit}, ` : ''}${restart})`;
  const entries = visibleDevices({ CUDA_VISIBLE_DEVICES: s.value }) ?? [];
  const r = resolveDevices(entries, facts.cards);
  if (r.kind === 'unknown') {
    return [
      finding(
        false,
        'warning',
        `${set}: ${r.entry} cannot be matched to a card ${facts.cards ? '(a MIG instance)' : '(nvidia-smi shows no cards)'}, so it is not compared with gpumod.yaml's ${cardsWords(planned)}`,
        `check by hand that it names ${cardsWords(planned)} (nvidia-smi -L lists their UUIDs), or write indices: ${pin}`,
      ),
    ];
  }
  const findings: Finding[] = [];
  const seen = r.cards;
  if (r.kind === 'invalid' && sameCards(seen, planned)) {
    findings.push(
      finding(
        false,
        'warning',
        `${set}: ${r.entry} is no card; CUDA ignores it and every entry after it, which leaves ${cardsWords(seen)}, as gpumod.yaml says`,
        `set ${repin}`,
      ),
    );
  } else if (r.kind === 'invalid') {
    const known = facts.cards ? ` (nvidia-smi shows ${cardsWords(facts.cards.map((c) => c.index))})` : '';
    findings.push(
      finding(
        false,
        'error',
        `${set}: ${r.entry} is no card${known}; CUDA ignores it and every entry after it, so the server sees ${cardsWords(seen)}, but gpumod.yaml plans it on ${cardsWords(planned)}`,
        `set ${repin}`,
      ),
    );
  } else if (seen.length === 0) {
    findings.push(finding(false, 'error', `${set}: the server sees no GPU, but gpumod.yaml plans it on ${cardsWords(planned)}`, `set ${repin}`));
  } else if (!sameCards(seen, planned)) {
    findings.push(
      finding(
        false,
        'error',
        `${set}, so the server runs on ${cardsWords(seen)}, but gpumod.yaml plans it on ${cardsWords(planned)}: gpumod would budget the wrong card${planned.length > 1 || seen.length > 1 ? 's' : ''}`,
        `make them agree: ${repin}, or \`${yamlCards(sorted(seen))}\` for ${svc.name} in gpumod.yaml`,
      ),
    );
  } else {
    const byUuid = entries.some((e) => !/^\d+$/.test(e)) ? ` = ${cardsWords(seen)}` : '';
    findings.push(finding(true, 'info', `CUDA_VISIBLE_DEVICES=${s.value}${byUuid} (${WHERE[s.from]}), as gpumod.yaml says`));
  }

  // Indices count in CUDA's order, fastest card first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; nvidia-smi
  // counts by PCI bus. They agree on identical cards only.
  const models = new Set((facts.cards ?? []).map((c) => c.name));
  if (models.size > 1 && entries.some((e) => /^\d+$/.test(e)) && facts.deviceOrder !== 'PCI_BUS_ID') {
    findings.push(
      finding(
        false,
        'warning',
        `CUDA_VISIBLE_DEVICES=${s.value} counts cards in CUDA's order (fastest first), which on mixed cards (${[...models].join(', ')}) need not be nvidia-smi's and gpumod's`,
        `add Environment=CUDA_DEVICE_ORDER=PCI_BUS_ID to ${svc.unit} (${edit}), or name the cards by UUID (nvidia-smi -L)`,
        'device-order',
      ),
    );
  }
  return findings;
}
