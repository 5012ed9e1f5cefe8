// The README's benchmark section as Markdown, from a bench.json (written by `npm run bench`): the
// machine and load it ran under, the table, and the goals' verdicts. Used by scripts/benchTable.mjs.
export const START = /<!-- bench:start[^>]*-->\n/;
export const END = '<!-- bench:end -->';

const s = (ms) => (ms === undefined || ms === null ? '–' : (ms / 1000).toFixed(ms < 10000 ? 2 : 1));
const x = (v) => (v === undefined || v === null ? '–' : `${v.toFixed(v < 10 ? 1 : 0)}x`);
const ms = (v) => (v === undefined || v === null ? '–' : String(Math.round(v)));
const transition = (row) => (row === 'code→rag (from blank)' ? 'code → rag, via blank' : row.replace('→', ' → '));

/** The two-card section's table (bench.json's twoCards), after the cards' table; nothing without one. */
export function twoCardLines(t) {
  if (!t || !t.rows?.length) return [];
  const count = (n) => (n === 1 ? '1 run' : `median of ${n} runs`);
  const lines = [
    '',
    `Two 24 GB cards (the two-card profile: services pinned to each card and a 34 GB vLLM spread over both; time scale ${t.timeScale}), ` +
      `the demo's lap ${t.lap.join(' → ')} (stop/start: ${count(t.naiveRuns)}; gpumod: median of ${t.runs} laps after a warm-up lap):`,
    '',
    '| transition | stop/start s | gpumod s | speed-up | overhead ms (of which nvidia-smi) | load |',
    '|---|--:|--:|--:|--:|--:|',
  ];
  for (const r of t.rows) {
    lines.push(
      `| ${r.transition.replace('→', ' → ')} | ${s(r.medianMs.naive)} | ${s(r.medianMs.gpumod)} | ${x(r.speedup)} | ${ms(r.overheadMs)} (${ms(r.gpuOverheadMs)}) | ${r.load === undefined || r.load === null ? '–' : r.load.toFixed(1)} |`,
    );
  }
  return lines;
}

/** The Markdown between the markers, from a bench.json. */
export function benchSection(bench) {
  const m = bench.machine;
  if (!m) throw new Error('bench.json has no machine: it predates scripts/benchTable.mjs; run npm run bench again');
  const day = bench.date ? bench.date.slice(0, 10) : 'an unknown date';
  const count = (n) => (n === 1 ? '1 run' : `median of ${n} runs`);
  const runs = `naive: ${count(bench.naiveRuns)}; the others: ${count(bench.runs)}`;
  const lines = [
    `Measured on ${day} with \`npm run bench${bench.serial ? ' -- --serial' : ''}\` (profile ${bench.profile}, time scale ${bench.timeScale}${bench.readiness ? ', vLLM services with a readiness request' : ''}${bench.serial ? ', the cards one after the other' : ''}; ${runs}) ` +
      `on ${m.cpus} × ${m.model} with ${m.memoryGb} GB RAM and no GPU; load average ${m.loadAverage.before.toFixed(1)} before and ${m.loadAverage.after.toFixed(1)} after ` +
      '(the last column: as the row\'s switches returned). First token: from the switch\'s start until the slowest incoming service answered its first request.',
    '',
    '| card | transition | stop/start s | one step at a time s | gpumod s | speed-up | first token, stop/start s | first token, gpumod s | speed-up | overhead ms (of which nvidia-smi) | load |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of bench.rows) {
    const headline = r.card === '32' && r.row === 'code→rag';
    const bold = (t) => (headline && t !== '–' ? `**${t}**` : t);
    lines.push(
      `| ${r.card} GB | ${transition(r.row)} | ${s(r.medianMs.naive)} | ${s(r.medianMs.sequential)} | ${bold(s(r.medianMs.gpumod))} | ${bold(x(r.speedup))} | ` +
        `${s(r.ttftMs?.naive)} | ${bold(s(r.ttftMs?.gpumod))} | ${bold(x(r.ttftSpeedup))} | ${ms(r.overheadMs)} (${ms(r.gpuOverheadMs ?? r.gpuQueryMs)}) | ${r.load === undefined || r.load === null ? '–' : r.load.toFixed(1)} |`,
    );
  }
  lines.push(...twoCardLines(bench.twoCards));
  const g = bench.gateway;
  if (g) {
    const f = (v) => v.toFixed(v < 10 ? 2 : 0);
    lines.push(
      '',
      'The gateway (32 GB, vllm-chat; `gpumod gateway` as its own process):',
      '',
      '| one-token completion, awake | p50 ms | p99 ms | streamed tokens/s | first token: awake ms | asleep (L1) ms | stopped ms | a stop/start gateway ms |',
      '|---|--:|--:|--:|--:|--:|--:|--:|',
      `| direct | ${f(g.direct.p50)} | ${f(g.direct.p99)} | ${g.directTokensPerS.toFixed(0)} | – | – | – | – |`,
      `| through the gateway | ${f(g.gateway.p50)} | ${f(g.gateway.p99)} | ${g.gatewayTokensPerS.toFixed(0)} | ${f(g.ttft.awake)} | ${f(g.ttft.asleepL1)} | ${f(g.ttft.stopped)} | ${f(g.ttft.naiveStopStart)} |`,
    );
  }
  lines.push('', `Goals (issue 13${g ? ' and, for the gateway, issue 16' : ''}), as that run judged them:`, '');
  for (const g of bench.goals) {
    const verdict = g.pass === null ? 'checked elsewhere' : g.pass ? 'PASS' : 'FAIL';
    lines.push(`- **${verdict}** ${g.name}: ${g.detail}`);
  }
  return lines.join('\n') + '\n';
}

export function rewrite(readme, bench) {
  const start = START.exec(readme);
  const end = readme.indexOf(END);
  if (!start || end < start.index) throw new Error(`the README has no "<!-- bench:start -->" … "${END}" section`);
  const from = start.index + start[0].length;
  return readme.slice(0, from) + benchSection(bench) + readme.slice(end);
}

