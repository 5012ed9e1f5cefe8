import * as vscode from 'vscode';
import type { DetectedProposal } from '../../discovery/detectServices';
import type { Draft } from '../../discovery/proposal';
import type { Merged, ModePlan } from '../../discovery/proposalYaml';
import { hiddenOrigin, proposalSummary } from '../../discovery/summary';
import { GpumodError } from '../../errors';
import { ifPresent, readRegularFile } from '../../system/regularFile';
import { writeFileAtomic } from '../../system/stateStore';
import type { ConfigSource } from '../configSource';
import type { ProposalDocuments } from '../proposalDocuments';
import { core } from '../useCore';

/**
 * `gpumod: Detect Services`: looks at the user's systemd units, lets them pick the services and how
 * to group them into modes, opens the result as a diff against gpumod.yaml, and writes it only when
 * they choose Apply (in the notification, on the diff's title bar, or from the palette).
 */

/** Answers given up front (by another extension or a test) instead of asking. */
export interface DetectServicesArgs {
  /** The proposed services to add, by name (default: ask; all are preselected). */
  services?: string[];
  /** How to group them into modes (default: ask). */
  modes?: 'per-service' | 'all-in-one' | 'none' | { name: string; services: string[] }[];
  /** Apply or discard once the diff is open (default: ask). */
  apply?: boolean;
}

export interface DetectServicesResult {
  path: string;
  applied: boolean;
  services: string[];
  modes: string[];
  /** The diff's proposal document, while it is open. */
  proposal?: string;
}

const CONTEXT_KEY = 'gpumod.proposalOpen';
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

interface DraftItem extends vscode.QuickPickItem {
  draft: Draft;
}

export class DetectServices implements vscode.Disposable {
  private answer: ((choice: 'apply' | 'discard') => void) | undefined;

  constructor(
    private readonly source: ConfigSource,
    private readonly log: vscode.LogOutputChannel,
    private readonly docs: ProposalDocuments,
  ) {}

  /** Apply or Discard from the diff's title bar or the palette. */
  decide(choice: 'apply' | 'discard'): void {
    this.answer?.(choice);
  }

  async run(args: DetectServicesArgs = {}): Promise<DetectServicesResult | undefined> {
    // A proposal still waiting for its answer is superseded by the new one.
    this.answer?.('discard');
    const path = this.source.path;
    const found = await this.detect(path);
    if (!found) return undefined;
    const { proposal, detection } = found;
    const summary = proposalSummary(proposal, detection.units.length, detection.units.filter((u) => u.running).length, true);
    this.log.info(`Detect Services:\n${summary.join('\n')}`);
    if (proposal.drafts.length === 0) {
      // Not awaited: the command ends here, the message stays for the user to act on.
      void vscode.window
        .showInformationMessage(
          found.current === undefined
            ? `gpumod: no vLLM, llama-server or uvicorn/FastAPI units found among ${detection.units.length} service units.`
            : `gpumod: nothing new to add to ${path} (${detection.units.length} service units looked at).`,
          'Show Details',
        )
        .then((choice) => choice === 'Show Details' && this.log.show(true));
      return { path, applied: false, services: [], modes: [] };
    }
    const drafts = await this.pickServices(proposal.drafts, args.services, proposal.notAdded.filter((n) => n.why !== 'configured' && !hiddenOrigin(n.origin)).length);
    if (!drafts || drafts.length === 0) return undefined;
    const plan = await this.pickModes(drafts, args.modes, found.modes);
    if (!plan) return undefined;
    const merged = core().proposalYaml.mergeProposal(found.current, path, proposal, drafts, plan);
    if (!merged.ok) {
      this.log.error(`Detect Services: the proposal is not a valid configuration:\n${merged.problems.join('\n')}`);
      throw new GpumodError('CONFIG_INVALID', `the proposal is not a valid configuration (${merged.problems[0]}); nothing was written`);
    }
    for (const n of merged.notes) this.log.info(`Detect Services: ${n}`);
    return this.offer(path, found, merged, args.apply);
  }

  private async detect(path: string): Promise<DetectedProposal | undefined> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'gpumod: detecting services in your systemd user units…', cancellable: true },
      async (_progress, token) => {
        const ctl = new AbortController();
        const sub = token.onCancellationRequested(() => ctl.abort());
        const ports = core().detectMachine.createDetectPorts(this.log);
        try {
          return await core().detection.detectServices(ports, path, { signal: ctl.signal, timeoutMs: 30_000 });
        } catch (e) {
          if (ctl.signal.aborted) return undefined;
          throw e;
        } finally {
          sub.dispose();
          await ports.http.close();
        }
      },
    );
  }

  private async pickServices(drafts: Draft[], given: string[] | undefined, notAdded: number): Promise<Draft[] | undefined> {
    if (given) return drafts.filter((d) => given.includes(d.name));
    const items: DraftItem[] = drafts.map((d) => ({
      draft: d,
      label: `$(${d.running ? 'vm-running' : 'vm-outline'}) ${d.name}`,
      description: `${d.unit}${d.running ? ' · running' : ''}`,
      detail: [d.summary, ...d.header.filter((h) => h.startsWith('warning: ')).map((h) => `⚠ ${h.slice('warning: '.length)}`)].join(' — '),
      picked: true,
    }));
    const others = notAdded === 0 ? '' : ` · ${notAdded} unit${notAdded === 1 ? '' : 's'} not recognised (gpumod: Show Log)`;
    const picked = await vscode.window.showQuickPick(items, {
      title: `gpumod: Detect Services (1/2): services to add${others}`,
      placeHolder: 'Space toggles a service, Enter continues',
      canPickMany: true,
      matchOnDescription: true,
      matchOnDetail: true,
      ignoreFocusOut: true,
    });
    return picked?.map((i) => i.draft);
  }

  private async pickModes(drafts: Draft[], given: DetectServicesArgs['modes'], taken: ReadonlySet<string>): Promise<ModePlan | undefined> {
    if (given === 'per-service' || given === 'none') return { kind: given };
    if (given === 'all-in-one') return { kind: 'all-in-one', name: 'all' };
    if (Array.isArray(given)) return { kind: 'groups', groups: given };
    type Choice = vscode.QuickPickItem & { kind2: 'per-service' | 'all-in-one' | 'groups' | 'none' };
    const total = drafts.reduce((s, d) => s + (d.vramMb ?? 0), 0);
    const choices: Choice[] = [
      { kind2: 'per-service', label: '$(list-flat) One mode per service', detail: 'Each service alone in a mode named after it, and blank. Combine them later in gpumod.yaml.' },
      { kind2: 'all-in-one', label: '$(layers) All in one mode', detail: `Every service in one mode${total ? ` (about ${(total / 1024).toFixed(1)} GB together)` : ''}, and blank.` },
      { kind2: 'groups', label: '$(group-by-ref-type) Choose groups…', detail: 'Name a mode and pick its services; repeat for each mode.' },
      { kind2: 'none', label: '$(dash) No modes', detail: 'Only the services (and blank, if you have no empty mode).' },
    ];
    const choice = await vscode.window.showQuickPick(choices, { title: 'gpumod: Detect Services (2/2): modes', placeHolder: 'How should the services be grouped into modes?', ignoreFocusOut: true });
    if (!choice) return undefined;
    if (choice.kind2 === 'per-service' || choice.kind2 === 'none') return { kind: choice.kind2 };
    if (choice.kind2 === 'all-in-one') {
      const name = await askModeName(taken, [], 'all', 'Name of the mode that holds every service');
      return name ? { kind: 'all-in-one', name } : undefined;
    }
    const groups: { name: string; services: string[] }[] = [];
    for (;;) {
      const name = await askModeName(taken, groups.map((g) => g.name), '', `Name of mode ${groups.length + 1} (leave empty and press Enter when done)`);
      if (!name) break;
      const members = await vscode.window.showQuickPick(
        drafts.map((d) => ({ label: d.name, description: d.summary })),
        { title: `gpumod: services of mode "${name}"`, canPickMany: true, ignoreFocusOut: true, placeHolder: 'Space toggles, Enter confirms' },
      );
      if (!members) break;
      groups.push({ name, services: members.map((m) => m.label) });
    }
    return groups.length > 0 ? { kind: 'groups', groups } : undefined;
  }

  /** Opens the diff and waits for Apply or Discard; writes only on Apply, and only over the file the proposal was made from. */
  private async offer(path: string, found: DetectedProposal, merged: Extract<Merged, { ok: true }>, given: boolean | undefined): Promise<DetectServicesResult> {
    const right = this.docs.add('proposal', merged.text);
    const left = found.current === undefined ? this.docs.add('empty', '') : vscode.Uri.file(path);
    const title = `${found.current === undefined ? 'gpumod.yaml (new)' : 'gpumod.yaml'} ↔ Detected Services`;
    const result: DetectServicesResult = { path, applied: false, services: merged.services, modes: merged.modes, proposal: right.toString() };
    const what = `${merged.services.length} service${merged.services.length === 1 ? '' : 's'} and ${merged.modes.length} mode${merged.modes.length === 1 ? '' : 's'}`;
    // The answer is awaited from before the diff opens: Apply pressed the moment it shows must count.
    let closed: vscode.Disposable | undefined;
    const asked =
      given !== undefined
        ? Promise.resolve<'apply' | 'discard'>(given ? 'apply' : 'discard')
        : new Promise<'apply' | 'discard'>((resolve) => {
            this.answer = resolve;
            // Closing the diff without an answer is a Discard.
            closed = vscode.window.tabGroups.onDidChangeTabs((e) => {
              if (e.closed.some((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === right.toString())) resolve('discard');
            });
          });
    if (given === undefined) await vscode.commands.executeCommand('setContext', CONTEXT_KEY, true);
    await vscode.commands.executeCommand('vscode.diff', left, right, title, { preview: false });
    if (given === undefined) {
      void vscode.window
        .showInformationMessage(`gpumod: ${found.current === undefined ? `create ${path} with` : `add to ${path}`} ${what}? Review the diff first.`, 'Apply', 'Discard')
        .then((c) => c && this.answer?.(c === 'Apply' ? 'apply' : 'discard'));
    }
    const choice = await asked;
    closed?.dispose();
    this.answer = undefined;
    if (given === undefined) await vscode.commands.executeCommand('setContext', CONTEXT_KEY, false);
    if (choice === 'apply') {
      const now = await ifPresent(readRegularFile(path, { maxBytes: core().configLoad.MAX_CONFIG_BYTES }));
      if (now?.toString('utf8') !== found.current) {
        await this.close(right, left);
        throw new GpumodError('USAGE', `${path} changed since the services were detected: nothing written. Run Detect Services again.`);
      }
      await writeFileAtomic(path, merged.text);
      this.log.info(`Detect Services: wrote ${path} (services ${merged.services.join(', ')}; modes ${merged.modes.join(', ') || 'none'})`);
      result.applied = true;
      await this.close(right, left);
      await this.source.reload();
      void vscode.window.showInformationMessage(`gpumod: added ${merged.services.length} services and ${merged.modes.length} modes to ${path}.`, 'Switch Mode', 'Open Configuration').then((c) => {
        if (c === 'Switch Mode') void vscode.commands.executeCommand('gpumod.switchMode');
        if (c === 'Open Configuration') void vscode.commands.executeCommand('gpumod.openConfiguration');
      });
    } else {
      this.log.info('Detect Services: discarded; nothing written');
      await this.close(right, left);
    }
    delete result.proposal;
    return result;
  }

  private async close(right: vscode.Uri, left: vscode.Uri): Promise<void> {
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === right.toString());
    if (tabs.length > 0) await vscode.window.tabGroups.close(tabs);
    this.docs.forget(right);
    if (left.scheme !== 'file') this.docs.forget(left);
  }

  dispose(): void {
    this.answer?.('discard');
  }
}

async function askModeName(taken: ReadonlySet<string>, chosen: readonly string[], value: string, prompt: string): Promise<string | undefined> {
  const name = await vscode.window.showInputBox({
    title: 'gpumod: Detect Services: mode name',
    prompt,
    value,
    ignoreFocusOut: true,
    validateInput: (v) => {
      if (v === '') return undefined;
      if (!NAME.test(v)) return 'Letters, digits and _.- only, starting with a letter or digit (at most 64).';
      if (taken.has(v) || chosen.includes(v)) return `A mode named "${v}" already exists.`;
      return undefined;
    },
  });
  return name === undefined || name === '' ? undefined : name;
}
