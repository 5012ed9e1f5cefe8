import * as vscode from 'vscode';
import type { ServiceConfig } from '../config/types';
import { contextValue } from '../engine/actions';
import type { Controller } from './controller';
import { cardGroups, cardRowModel, gpuRowModels } from './gpuRow';
import { modeLabel } from '../engine/currentMode';
import { cardNote, demandText, gatewayText, serviceItem, servicesGrouping, severalCards, type UiState } from './viewModel';

type Node =
  | { kind: 'gateway' }
  /** `services`: the card's row as the parent of its services (grouping by card). */
  | { kind: 'gpu'; index: number; services?: string[] }
  | { kind: 'mode'; name: string }
  /** `parent`: the mode it is listed under; `card`: the card it is listed under. */
  | { kind: 'service'; name: string; parent?: string; card?: number };

const GROUPING_KEY = 'gpumod.groupByMode';

/**
 * The "GPU" view: a GPU row per card, then the services (flat, or grouped by mode), with state-valid
 * menus; on several cards, the services under their card's row unless grouped by mode.
 */
export class ServicesView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly disposables: vscode.Disposable[];
  private grouped: boolean;
  readonly view: vscode.TreeView<Node>;

  constructor(
    private readonly controller: Controller,
    private readonly memento: vscode.Memento,
  ) {
    this.grouped = memento.get<boolean>(GROUPING_KEY, false);
    this.view = vscode.window.createTreeView('gpumod.services', { treeDataProvider: this, showCollapseAll: true });
    this.disposables = [
      this.emitter,
      this.view,
      controller.onDidChange((s) => {
        void vscode.commands.executeCommand('setContext', 'gpumod.configState', s.configState);
        // The commands need a config in force, not a clean file: the last valid one serves through an edit.
        void vscode.commands.executeCommand('setContext', 'gpumod.configInForce', s.config !== undefined);
        this.view.message = viewMessage(s);
        this.emitter.fire();
      }),
    ];
  }

  toggleGrouping(): void {
    this.grouped = !this.grouped;
    void this.memento.update(GROUPING_KEY, this.grouped);
    this.emitter.fire();
  }

  getChildren(node?: Node): Node[] {
    const s = this.controller.state;
    const config = s.config;
    if (!config || s.configState === 'missing') return [];
    if (!node) {
      const grouping = servicesGrouping(config, s.observation, this.grouped);
      if (grouping === 'card') {
        const cards = cardGroups(config, s.observation).map((g): Node => ({ kind: 'gpu', index: g.index, services: g.services }));
        return s.gateway ? [{ kind: 'gateway' }, ...cards] : cards;
      }
      const gpus: Node[] = s.observation?.gpu.available ? s.observation.gpu.gpus.map((g) => ({ kind: 'gpu', index: g.index })) : s.observation ? [{ kind: 'gpu', index: -1 }] : [];
      if (s.gateway) gpus.unshift({ kind: 'gateway' });
      if (grouping === 'flat') return [...gpus, ...[...config.services.keys()].map((name): Node => ({ kind: 'service', name }))];
      const modes: Node[] = [...config.modes.keys()].map((name) => ({ kind: 'mode', name }));
      const inMode = new Set([...config.modes.values()].flatMap((m) => m.services));
      const others = [...config.services.keys()].filter((n) => !inMode.has(n));
      return [...gpus, ...modes, ...(others.length ? [{ kind: 'mode', name: '' } as Node] : [])];
    }
    if (node.kind === 'gpu') return (node.services ?? []).map((name) => ({ kind: 'service', name, card: node.index }));
    if (node.kind === 'mode') {
      const names = node.name ? config.modes.get(node.name)?.services ?? [] : [...config.services.keys()].filter((n) => ![...config.modes.values()].some((m) => m.services.includes(n)));
      return names.map((name) => ({ kind: 'service', name, parent: node.name }));
    }
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const s = this.controller.state;
    if (node.kind === 'gateway') {
      const g = s.gateway;
      const item = new vscode.TreeItem('Gateway');
      item.id = 'gateway';
      item.description = g ? (g.running ? g.url.replace(/^http:\/\//, '') : 'not running') : undefined;
      item.tooltip = g ? `gpumod gateway: ${gatewayText(g)}. Requests to it wake the model they name.` : undefined;
      item.iconPath = new vscode.ThemeIcon(g?.running ? 'radio-tower' : 'debug-disconnect');
      item.contextValue = g?.running ? 'gateway.running' : 'gateway.stopped';
      if (g && !g.running) item.command = { command: 'gpumod.installGateway', title: 'Install Gateway' };
      return item;
    }
    if (node.kind === 'gpu') {
      const parent = node.services !== undefined;
      const rows = gpuRowModels(s);
      const row = parent ? cardRowModel(s, node.index) : node.index < 0 ? rows[0] : rows.find((r) => r.index === node.index);
      const item = new vscode.TreeItem(row?.label ?? 'GPU', parent && node.services?.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
      // Another id than the plain row's: the tree keeps an item's expansion by id.
      item.id = parent ? `card:${node.index}` : `gpu:${node.index}`;
      item.description = row?.description;
      if (row) {
        const tip = new vscode.MarkdownString(row.tooltip);
        tip.isTrusted = false;
        item.tooltip = tip;
        item.accessibilityInformation = { label: row.accessible };
      }
      item.iconPath = new vscode.ThemeIcon('circuit-board');
      item.contextValue = 'gpu';
      item.command = { command: 'gpumod.showGpuMemory', title: 'Show GPU Memory' };
      return item;
    }
    if (node.kind === 'mode') {
      const mode = node.name ? s.config?.modes.get(node.name) : undefined;
      const current = node.name !== '' && node.name === s.mode;
      const item = new vscode.TreeItem(node.name || 'In no mode', vscode.TreeItemCollapsibleState.Expanded);
      item.id = `mode:${node.name}`;
      item.description = current ? (s.idle?.length ? `current${(modeLabel(node.name, s.idle) ?? '').slice(node.name.length)}` : 'current') : mode?.description;
      item.tooltip = mode?.description;
      item.iconPath = new vscode.ThemeIcon(current ? 'layers-active' : 'layers');
      item.contextValue = 'mode';
      return item;
    }
    const svc = s.config?.services.get(node.name) as ServiceConfig;
    const o = s.observation?.services.get(node.name);
    const several = s.config ? severalCards(s.config, s.observation) : false;
    const cards = cardNote(svc, node.card !== undefined ? 'card' : node.parent !== undefined ? 'mode' : 'flat', several);
    const m = serviceItem(svc, o, s.measured?.get(node.name), demandText(node.name, s), cards);
    const item = new vscode.TreeItem(m.name);
    // A service spread over several cards is listed under each: the card keeps the ids apart.
    item.id = node.card !== undefined ? `card:${node.card}:svc:${node.name}` : `svc:${node.parent ?? ''}:${node.name}`;
    item.description = m.description;
    const tip = new vscode.MarkdownString(m.tooltip);
    tip.isTrusted = false;
    item.tooltip = tip;
    item.iconPath = new vscode.ThemeIcon(m.icon, m.color ? new vscode.ThemeColor(m.color) : undefined);
    // Menus key off this: only the actions valid in the observed state are offered.
    item.contextValue = contextValue({ state: o?.state ?? 'unknown' }, this.controller.capabilities(svc));
    item.accessibilityInformation = { label: `${m.name}, ${m.description}` };
    return item;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** Above the tree: the switch under way, else a file on disk that does not load (while the last valid config serves). */
function viewMessage(s: UiState): string | undefined {
  if (s.switching) return `Switching ${s.switching.from ?? '…'} → ${s.switching.to}${s.switching.step ? `: ${s.switching.step}` : ''}`;
  if (s.configState === 'invalid' && s.config) return 'gpumod.yaml has problems (see the Problems panel): the last valid configuration stays in force.';
  return undefined;
}
