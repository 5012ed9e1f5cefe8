import * as vscode from 'vscode';

export const PROPOSAL_SCHEME = 'gpumod-proposal';

/**
 * Read-only documents for the Detect Services diff: the proposed gpumod.yaml, and an empty file to
 * compare it with when there is no configuration yet. Nothing here touches the disk.
 */
export class ProposalDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  private next = 0;
  readonly onDidChange = this.emitter.event;

  /** A new document holding `text`, named like the config so the YAML schema and highlighting apply. */
  add(kind: 'proposal' | 'empty', text: string, fileName = 'gpumod.yaml'): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${kind}/${fileName}`, query: String(++this.next) });
    this.texts.set(uri.toString(), text);
    return uri;
  }

  forget(uri: vscode.Uri): void {
    this.texts.delete(uri.toString());
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.emitter.dispose();
    this.texts.clear();
  }
}
