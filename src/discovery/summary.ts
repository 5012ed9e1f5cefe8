import type { Origin } from './detect';
import type { NotAdded, Proposal } from './proposal';

/** Units of installed packages and of generators (desktop autostart entries): counted, not listed, when not recognised. */
export function hiddenOrigin(origin: Origin): boolean {
  return origin === 'package' || origin === 'generated';
}

/** The proposal's lines for a person: `+` added, `=` already configured, `-` not added (why), `!` warnings. */
/** `all`: list units of installed packages too; else they are counted, with `hint` saying how to list them. */
export function proposalSummary(proposal: Proposal, unitCount: number, running: number, all: boolean, hint = ''): string[] {
  const lines = [`Looked at ${unitCount} service units (${running} running).`];
  const width = Math.min(32, Math.max(0, ...proposal.drafts.map((d) => d.name.length)));
  for (const d of proposal.drafts) {
    lines.push(`+ ${d.name.padEnd(width)}  ${d.summary}`);
    for (const h of d.header.filter((l) => l.startsWith('warning: '))) lines.push(`  ${' '.repeat(width)}  ! ${h.slice('warning: '.length)}`);
  }
  const shown = (n: NotAdded): boolean => all || !hiddenOrigin(n.origin) || n.why !== 'unrecognised';
  for (const n of proposal.notAdded.filter((x) => x.why === 'configured')) lines.push(`= ${n.unit}: ${n.reason}`);
  for (const n of proposal.notAdded.filter((x) => x.why !== 'configured' && shown(x))) lines.push(`- ${n.unit}: ${n.reason}`);
  const hidden = proposal.notAdded.filter((n) => !shown(n)).length;
  if (hidden > 0) lines.push(`  (${hidden} units of installed packages or generators not recognised either${hint ? `; ${hint}` : ''})`);
  return lines;
}
