import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DriverCapabilities, SleepDepth } from '../../../src/engine/driverPort';
import { ALL_ACTIONS, contextValue, validActions, type ServiceAction } from '../../../src/engine/actions';
import type { ServiceState } from '../../../src/engine/types';
import { ACTION_COMMANDS } from '../../../src/ui/actionCommands';

interface Menu {
  command: string;
  when?: string;
  group?: string;
}

const manifest = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as {
  contributes: { menus: Record<string, Menu[]>; commands: { command: string }[] };
};

/** Evaluates the subset of VS Code `when` syntax our menus use: `a == b`, `a =~ /re/`, joined by `&&`. */
function evaluate(when: string, ctx: Record<string, string>): boolean {
  return when.split('&&').every((clause) => {
    const c = clause.trim();
    const re = c.match(/^(\S+) =~ \/(.*)\/$/);
    if (re) return new RegExp(re[2]).test(ctx[re[1]] ?? '');
    const eq = c.match(/^(\S+) == (\S+)$/);
    if (eq) return ctx[eq[1]] === eq[2];
    throw new Error(`unsupported when clause: ${c}`);
  });
}

const STATES: ServiceState[] = ['stopped', 'starting', 'running', 'sleeping', 'waking', 'stopping', 'failed', 'unknown'];
const CAPS: DriverCapabilities[] = [
  { sleepLevels: [], canWake: false, canDrain: false },
  { sleepLevels: ['l1', 'l2'] as SleepDepth[], canWake: true, canDrain: true },
  { sleepLevels: ['l2'] as SleepDepth[], canWake: true, canDrain: true },
  { sleepLevels: ['router'] as SleepDepth[], canWake: true, canDrain: false },
  { sleepLevels: ['hook'] as SleepDepth[], canWake: true, canDrain: false },
];

describe('service context menus against the engine transition table', () => {
  const context = manifest.contributes.menus['view/item/context'];

  it('maps every action to a contributed command', () => {
    const contributed = new Set(manifest.contributes.commands.map((c) => c.command));
    for (const a of ALL_ACTIONS) assert.ok(contributed.has(ACTION_COMMANDS[a]), `${a} → ${ACTION_COMMANDS[a]}`);
  });

  it('shows exactly the valid actions for every state and driver capability', () => {
    let checked = 0;
    for (const state of STATES) {
      for (const caps of CAPS) {
        const ctx = { view: 'gpumod.services', viewItem: contextValue({ state }, caps) };
        const shown = new Set(context.filter((m) => m.group !== 'inline' && evaluate(m.when ?? 'true', ctx)).map((m) => m.command));
        const valid = new Set(validActions(state, caps).map((a: ServiceAction) => ACTION_COMMANDS[a]));
        assert.deepEqual([...shown].sort(), [...valid].sort(), `${state} with ${JSON.stringify(caps.sleepLevels)}`);
        for (const m of context.filter((x) => x.group === 'inline' && evaluate(x.when ?? 'true', ctx))) {
          assert.ok(valid.has(m.command), `inline ${m.command} valid for ${state}`);
        }
        checked++;
      }
    }
    assert.equal(checked, STATES.length * CAPS.length);
  });

  it('offers Wake on a sleeping service but never Sleep, and Sleep (deep) only where L2 exists', () => {
    const l1 = CAPS[1];
    assert.ok(validActions('sleeping', l1).includes('wake'));
    assert.ok(!validActions('sleeping', l1).includes('sleep'));
    assert.ok(validActions('running', l1).includes('sleepDeep'));
    assert.ok(!validActions('running', CAPS[3]).includes('sleepDeep'));
    assert.deepEqual(validActions('running', CAPS[0]).filter((a) => a.startsWith('sleep')), []);
    // A `sleep: l2` vLLM: its own sleep is L2, so Sleep is offered and there is no deeper one.
    assert.deepEqual(validActions('running', CAPS[2]).filter((a) => a.startsWith('sleep')), ['sleep']);
  });
});
