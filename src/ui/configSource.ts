import * as vscode from 'vscode';
import { resolveConfigPath } from '../config/paths';
import type { Config, ConfigProblem } from '../config/types';
import { core } from './useCore';

export type ConfigState =
  | { kind: 'loading'; path: string }
  | { kind: 'missing'; path: string }
  | { kind: 'invalid'; path: string; problems: ConfigProblem[] }
  | { kind: 'ok'; path: string; config: Config };

/**
 * Owns the current gpumod.yaml: resolves its path from the setting, loads it off the activation path,
 * reloads on edits, and shows problems as diagnostics on the file. A bad file never replaces a good
 * one in use: `config` keeps the last valid config until the file is fixed.
 */
export class ConfigSource implements vscode.Disposable {
  private state: ConfigState;
  private lastGood: Config | undefined;
  private watcher: vscode.FileSystemWatcher | undefined;
  private readonly emitter = new vscode.EventEmitter<ConfigState>();
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('gpumod');
  private readonly disposables: vscode.Disposable[] = [];
  private loading: Promise<ConfigState> | undefined;
  readonly onDidChange = this.emitter.event;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.state = { kind: 'loading', path: this.resolvePath() };
    this.disposables.push(
      this.emitter,
      this.diagnostics,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('gpumod.configPath')) void this.reload();
      }),
    );
  }

  get current(): ConfigState {
    return this.state;
  }

  /** The config in force: the last valid one, even while the file on disk is being edited into shape. */
  get config(): Config | undefined {
    return this.lastGood;
  }

  get path(): string {
    return this.state.path;
  }

  /** The first load: callers await it only when they need the config, never during activation. */
  ready(): Promise<ConfigState> {
    return this.loading ?? this.reload();
  }

  reload(): Promise<ConfigState> {
    this.loading = this.load();
    return this.loading;
  }

  private resolvePath(): string {
    const setting = vscode.workspace.getConfiguration('gpumod').get<string>('configPath');
    return resolveConfigPath(setting);
  }

  private async load(): Promise<ConfigState> {
    const path = this.resolvePath();
    this.watch(path);
    // The first read loads the core bundle (the loader, YAML, the schema's validator): not the window's start.
    const { loadConfig } = core();
    const result = await loadConfig(path);
    let next: ConfigState;
    if (result.ok) {
      this.lastGood = result.config;
      next = { kind: 'ok', path, config: result.config };
      this.diagnostics.clear();
      this.log.info(`config: ${path} (${result.config.services.size} services, ${result.config.modes.size} modes)`);
    } else if (result.problems.length === 1 && result.problems[0].message.startsWith('cannot read the config: no such file')) {
      next = { kind: 'missing', path };
      this.diagnostics.clear();
      this.log.info(`config: ${path} does not exist yet`);
    } else {
      next = { kind: 'invalid', path, problems: result.problems };
      this.showProblems(path, result.problems);
      this.log.warn(`config: ${result.problems.length} problem(s) in ${path}; ${this.lastGood ? 'keeping the last valid config' : 'nothing loaded'}`);
    }
    this.state = next;
    this.emitter.fire(next);
    return next;
  }

  private showProblems(path: string, problems: ConfigProblem[]): void {
    const diags = problems.map((p) => {
      const pos = new vscode.Position(Math.max(0, p.line - 1), Math.max(0, p.col - 1));
      const d = new vscode.Diagnostic(new vscode.Range(pos, pos.translate(0, 1)), p.message, vscode.DiagnosticSeverity.Error);
      d.source = 'gpumod';
      return d;
    });
    this.diagnostics.set(vscode.Uri.file(path), diags);
  }

  private watch(path: string): void {
    if (this.watcher && this.watchedPath === path) return;
    this.watcher?.dispose();
    this.watchedPath = path;
    const uri = vscode.Uri.file(path);
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.joinPath(uri, '..'), uri.path.split('/').pop() ?? 'gpumod.yaml'));
    const again = (): void => void this.reload();
    this.watcher.onDidChange(again);
    this.watcher.onDidCreate(again);
    this.watcher.onDidDelete(again);
  }

  private watchedPath: string | undefined;

  dispose(): void {
    this.watcher?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
