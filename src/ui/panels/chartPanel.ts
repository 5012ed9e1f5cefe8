import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { page } from '../../charts/page';

/**
 * The page script: buttons with `data-open` post their id; a `render` message replaces the content
 * in place (no reload, so scroll stays), and the focused button keeps its focus across it.
 */
const SCRIPT = `(function () {
  const vscode = acquireVsCodeApi();
  vscode.postMessage({ type: 'ready' });
  document.addEventListener('click', function (e) {
    const t = e.target instanceof Element ? e.target.closest('[data-open]') : null;
    if (t) vscode.postMessage({ type: 'open', id: t.getAttribute('data-open') });
  });
  window.addEventListener('message', function (e) {
    const m = e.data;
    const root = document.getElementById('content');
    if (!m || m.type !== 'render' || typeof m.html !== 'string' || !root) return;
    const active = document.activeElement;
    const key = active && active.getAttribute ? active.getAttribute('data-open') : null;
    root.innerHTML = m.html;
    if (key) {
      const again = root.querySelector('[data-open="' + CSS.escape(key) + '"]');
      if (again) again.focus();
    }
  });
})();`;

/**
 * One webview panel of charts: strict CSP (its own nonce'd style and script, nothing else, no local
 * resources), content from the pure renderers, updated in place while visible and re-rendered
 * afresh when shown again (a hidden webview is not retained).
 */
export class ChartPanel implements vscode.Disposable {
  readonly panel: vscode.WebviewPanel;
  private content = '';
  /** What `webview.html` holds: a hidden panel comes back from it, so it is renewed when stale. */
  private loaded = '';
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    viewType: string,
    private readonly title: string,
    onOpen: (id: string) => void,
    onDispose: () => void,
    column: vscode.ViewColumn = vscode.ViewColumn.Active,
    preserveFocus = false,
  ) {
    this.panel = vscode.window.createWebviewPanel(viewType, title, { viewColumn: column, preserveFocus }, { enableScripts: true, enableFindWidget: true, localResourceRoots: [] });
    this.disposables.push(
      this.panel.webview.onDidReceiveMessage((m: unknown) => {
        const msg = m as { type?: unknown; id?: unknown };
        if (msg?.type === 'open' && typeof msg.id === 'string') onOpen(msg.id);
        // Content that changed while the page loaded.
        if (msg?.type === 'ready' && this.loaded !== this.content) void this.panel.webview.postMessage({ type: 'render', html: this.content });
      }),
      this.panel.onDidChangeViewState(() => {
        if (this.panel.visible && this.loaded !== this.content) this.load();
      }),
      this.panel.onDidDispose(() => {
        onDispose();
        this.dispose();
      }),
    );
  }

  /** Shows `html` (the inside of #content): in place while visible, else when the panel is shown next. */
  render(html: string): void {
    if (html === this.content) return;
    const first = this.content === '';
    this.content = html;
    if (first) this.load();
    else if (this.panel.visible) void this.panel.webview.postMessage({ type: 'render', html });
  }

  private load(): void {
    this.loaded = this.content;
    const nonce = randomBytes(18).toString('base64url');
    this.panel.webview.html = page({ title: this.title, body: `<div id="content">${this.content}</div>`, nonce, cspSource: this.panel.webview.cspSource, script: SCRIPT });
  }

  reveal(preserveFocus = false): void {
    this.panel.reveal(undefined, preserveFocus);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
