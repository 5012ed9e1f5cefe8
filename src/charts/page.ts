import { esc } from './markup';

/**
 * The page around a chart. Inside VS Code the colours are the theme's CSS variables (high-contrast
 * themes add --vscode-contrastBorder); a standalone export (`gpumod history --open`) has no editor
 * around it, so it defines the same variables with a neutral light and dark palette of its own.
 * The content security policy allows the page's own nonce'd style and script and nothing else.
 */

export const CHART_CSS = `
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-editor-foreground); background: var(--vscode-editor-background); padding: 0 16px 24px; line-height: 1.4; }
h1 { font-size: 1.4em; font-weight: 600; margin: 12px 0 4px; }
h2 { font-size: 1.15em; font-weight: 600; margin: 16px 0 4px; }
h3 { font-size: 1em; font-weight: 600; margin: 8px 0 2px; }
.summary, .note-text, .est, .empty { color: var(--vscode-descriptionForeground); }
.error-text { color: var(--vscode-errorForeground); }
.layout { display: flex; gap: 20px; align-items: flex-start; }
.layout > main { flex: 1; min-width: 0; }
nav.history { flex: 0 0 230px; }
nav.history h2 { margin-top: 12px; }
nav.history ul { list-style: none; padding: 0; margin: 0; }
nav.history button { display: block; width: 100%; text-align: left; background: transparent; color: inherit; border: 1px solid transparent; border-radius: 2px; padding: 4px 6px; font: inherit; cursor: pointer; }
nav.history button:hover { background: var(--vscode-list-hoverBackground); }
nav.history button[aria-current="true"] { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); }
nav.history .sub { display: block; font-size: .9em; opacity: .8; }
nav.history .mark-failed { color: var(--vscode-errorForeground); }
button:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
body.vscode-high-contrast nav.history button, body.vscode-high-contrast-light nav.history button { border-color: var(--vscode-contrastBorder); }
figure { margin: 8px 0; }
.legend { list-style: none; padding: 0; margin: 6px 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: .92em; }
.legend li { display: flex; align-items: center; gap: 4px; }
.row { display: grid; grid-template-columns: minmax(150px, 26%) 1fr 130px; gap: 8px; align-items: center; min-height: 24px; }
.row.phase { margin-top: 6px; }
.row.phase .name, .row.total .name { font-weight: 600; }
.row.step .label { padding-left: 14px; }
.row .error-text, .row .note-text { font-size: .9em; overflow-wrap: anywhere; }
.time { text-align: right; font-variant-numeric: tabular-nums; }
.flag { font-size: .82em; border: 1px solid currentColor; border-radius: 3px; padding: 0 3px; margin-left: 4px; white-space: nowrap; }
.flag.crit { color: var(--vscode-charts-orange); }
svg text { fill: var(--vscode-descriptionForeground); font-size: 11px; }
.tick { stroke: var(--vscode-charts-lines); stroke-width: 1; }
.bar { stroke: var(--vscode-contrastBorder, transparent); stroke-width: 1; }
.phase-release { fill: var(--vscode-charts-blue); }
.phase-wait-free { fill: var(--vscode-charts-yellow); }
.phase-acquire { fill: var(--vscode-charts-green); }
.phase-ready { fill: var(--vscode-charts-purple); }
.phase-verify { fill: var(--vscode-charts-foreground); }
.phase-rollback { fill: var(--vscode-charts-orange); }
.phase-action { fill: var(--vscode-charts-blue); }
.phase-bar { fill-opacity: .5; }
.total-bar { fill: var(--vscode-charts-foreground); fill-opacity: .45; }
.bar.result-failed:not(.phase-bar), .bar.result-timeout:not(.phase-bar) { fill: var(--vscode-errorForeground); fill-opacity: 1; }
.bar.result-cancelled, .bar.result-skipped, .bar.result-rolled-back { fill-opacity: .35; }
.bar.critical { stroke: var(--vscode-editor-foreground); stroke-width: 2; }
.estimate { fill: none; stroke: var(--vscode-descriptionForeground); stroke-width: 1; stroke-dasharray: 3 2; }
.outcome-failed, .outcome-cancelled { color: var(--vscode-errorForeground); }
.membar { display: block; border: 1px solid var(--vscode-contrastBorder, var(--vscode-charts-lines)); border-radius: 2px; }
.seg { stroke: var(--vscode-editor-background); stroke-width: 1; }
body.vscode-high-contrast .seg, body.vscode-high-contrast-light .seg { stroke: var(--vscode-contrastBorder); }
.c0 { fill: var(--vscode-charts-blue); }
.c1 { fill: var(--vscode-charts-green); }
.c2 { fill: var(--vscode-charts-purple); }
.c3 { fill: var(--vscode-charts-orange); }
.c4 { fill: var(--vscode-charts-yellow); }
.kind-asleep { fill-opacity: .45; }
.kind-router { fill: var(--vscode-charts-purple); fill-opacity: .7; }
.kind-foreign { fill: var(--vscode-charts-foreground); fill-opacity: .6; }
.kind-unattributed { fill: var(--vscode-charts-foreground); fill-opacity: .3; }
.legend .kind-free { stroke: var(--vscode-charts-lines); }
.kind-margin { fill: var(--vscode-charts-foreground); fill-opacity: .12; }
.kind-free { fill: transparent; }
.hatch { stroke: var(--vscode-editor-background); stroke-width: 2.5; stroke-opacity: .8; }
.hatch-overlay { stroke: none; pointer-events: none; }
.card-end { stroke: var(--vscode-editor-foreground); stroke-width: 2; }
.used { font-weight: normal; color: var(--vscode-descriptionForeground); margin-left: 6px; }
table.data { border-collapse: collapse; margin: 12px 0; font-variant-numeric: tabular-nums; }
table.data caption { text-align: left; font-weight: 600; padding: 4px 0; }
table.data th, table.data td { text-align: left; padding: 2px 10px 2px 0; border-bottom: 1px solid var(--vscode-contrastBorder, var(--vscode-charts-lines)); vertical-align: top; }
table.data thead th { color: var(--vscode-descriptionForeground); font-weight: 600; }
table.data td.num { text-align: right; white-space: nowrap; }
table.data tr.result-failed td, table.data tr.result-timeout td { color: var(--vscode-errorForeground); }
table.data tr.keep { color: var(--vscode-descriptionForeground); }
.card { margin-bottom: 12px; }
.tables { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
`;

/** The theme variables a page outside VS Code lacks: a neutral light palette, and a dark one when the system prefers it. */
export const STANDALONE_CSS = `
:root { color-scheme: light dark; --vscode-font-family: system-ui, -apple-system, "Segoe UI", sans-serif; --vscode-font-size: 13px;
  --vscode-editor-foreground: #1f1f1f; --vscode-editor-background: #ffffff; --vscode-descriptionForeground: #5f5f5f; --vscode-errorForeground: #b3261e;
  --vscode-charts-foreground: #3b3b3b; --vscode-charts-lines: rgba(0, 0, 0, .16); --vscode-charts-blue: #1a73d9; --vscode-charts-green: #2e7d32;
  --vscode-charts-purple: #6f42c1; --vscode-charts-orange: #c2650a; --vscode-charts-yellow: #a67c00; --vscode-charts-red: #c62828;
  --vscode-focusBorder: #0060c0; --vscode-list-hoverBackground: rgba(0, 0, 0, .05); --vscode-list-activeSelectionBackground: #dbe8f8; --vscode-list-activeSelectionForeground: #1f1f1f; }
@media (prefers-color-scheme: dark) { :root {
  --vscode-editor-foreground: #d4d4d4; --vscode-editor-background: #1e1e1e; --vscode-descriptionForeground: #a0a0a0; --vscode-errorForeground: #f48771;
  --vscode-charts-foreground: #cccccc; --vscode-charts-lines: rgba(255, 255, 255, .18); --vscode-charts-blue: #4c9df3; --vscode-charts-green: #7cc47f;
  --vscode-charts-purple: #b58be0; --vscode-charts-orange: #e08a3c; --vscode-charts-yellow: #d7b94a; --vscode-charts-red: #ef6b6b;
  --vscode-focusBorder: #4c9df3; --vscode-list-hoverBackground: rgba(255, 255, 255, .06); --vscode-list-activeSelectionBackground: #04395e; --vscode-list-activeSelectionForeground: #ffffff; } }
`;

export interface PageOptions {
  title: string;
  body: string;
  nonce: string;
  /** The webview's `cspSource`; absent for a standalone file. */
  cspSource?: string;
  /** Inline script (run under the nonce); none for a standalone file. */
  script?: string;
}

export function contentSecurityPolicy(o: Pick<PageOptions, 'nonce' | 'cspSource' | 'script'>): string {
  const style = `style-src ${o.cspSource ? `${o.cspSource} ` : ''}'nonce-${o.nonce}'`;
  return [`default-src 'none'`, style, ...(o.script ? [`script-src 'nonce-${o.nonce}'`] : [])].join('; ');
}

export function page(o: PageOptions): string {
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(o.nonce)) throw new Error('a page needs a random nonce of at least 16 characters');
  const standalone = o.cspSource === undefined;
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${esc(contentSecurityPolicy(o))}">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(o.title)}</title>` +
    `<style nonce="${o.nonce}">${standalone ? STANDALONE_CSS : ''}${CHART_CSS}</style></head>` +
    `<body>${o.body}${o.script ? `<script nonce="${o.nonce}">${o.script}</script>` : ''}</body></html>`
  );
}
