import * as assert from 'node:assert/strict';
import { isGpumodError } from '../../../src/errors';
import { SHOW_PROPERTIES, execArgv, matchBlocks, parseShow, parseShowBlocks, unitStatusFromShow, validateUnitName } from '../../../src/system/systemd';

// Recorded from systemd 252 (the manager's order, not the -p order).
const RUNNING = [
  'MainPID=13417',
  'Result=success',
  'NRestarts=0',
  'ExecMainStatus=0',
  'ControlGroup=/user.slice/user-0.slice/user@0.service/app.slice/t1.service',
  'LoadState=loaded',
  'ActiveState=active',
  'SubState=running',
  'StateChangeTimestampMonotonic=2056908315',
  '',
].join('\n');

const NOT_FOUND = ['MainPID=0', 'Result=success', 'NRestarts=0', 'ExecMainStatus=0', 'ControlGroup=', 'LoadState=not-found', 'ActiveState=inactive', 'SubState=dead', 'StateChangeTimestampMonotonic=0', ''].join('\n');

describe('system/systemd parseShow', () => {
  it('keeps the argv of ExecStart, without the run-time fields that change at every start', () => {
    const run = (pid: number, at: string): string =>
      `ExecStart={ path=/opt/vllm/bin/vllm ; argv[]=/opt/vllm/bin/vllm serve Qwen/Qwen3-8B --port 7071 --gpu-memory-utilization 0.3 ; ignore_errors=no ; start_time=[${at}] ; stop_time=[n/a] ; pid=${pid} ; code=(null) ; status=0/0 }`;
    const a = unitStatusFromShow('chat.service', parseShow(run(4242, 'Tue 2025-06-03 10:00:00 CEST')));
    const b = unitStatusFromShow('chat.service', parseShow(run(5151, 'Wed 2025-06-04 09:00:00 CEST')));
    assert.equal(a.execStart, '/opt/vllm/bin/vllm serve Qwen/Qwen3-8B --port 7071 --gpu-memory-utilization 0.3');
    assert.equal(a.execStart, b.execStart);
    assert.ok(SHOW_PROPERTIES.includes('ExecStart'));
    assert.equal(execArgv('{ path=/bin/a ; argv[]=/bin/a -x ; ignore_errors=no ; pid=0 } ; { path=/bin/b ; argv[]=/bin/b ; ignore_errors=yes ; pid=0 }'), '/bin/a -x\n/bin/b');
    assert.equal(execArgv(''), undefined);
  });

  it('parses Key=Value lines whatever their order', () => {
    const m = parseShow(RUNNING);
    assert.equal(m.get('ActiveState'), 'active');
    assert.equal(m.get('MainPID'), '13417');
    assert.equal(m.size, 9);
  });

  it('keeps "=" inside values and empty values', () => {
    const m = parseShow('Environment=A=1 B=2\nControlGroup=\r\nnot a property line\n');
    assert.equal(m.get('Environment'), 'A=1 B=2');
    assert.equal(m.get('ControlGroup'), '');
    assert.equal(m.size, 2);
  });

  it('builds a UnitStatus, converting the monotonic timestamp to epoch µs', () => {
    const now = { epochUs: 1_800_000_000_000_000, monotonicUs: 2_060_000_000 };
    const s = unitStatusFromShow('t1.service', parseShow(RUNNING), now);
    assert.deepEqual(s, {
      unit: 't1.service',
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      mainPid: 13417,
      result: 'success',
      execMainStatus: 0,
      controlGroup: '/user.slice/user-0.slice/user@0.service/app.slice/t1.service',
      nRestarts: 0,
      stateChangeUs: 1_800_000_000_000_000 - (2_060_000_000 - 2_056_908_315),
    });
  });

  it('reads an unknown unit as not-found with no PID and no timestamp', () => {
    const s = unitStatusFromShow('nope.service', parseShow(NOT_FOUND));
    assert.equal(s.loadState, 'not-found');
    assert.equal(s.activeState, 'inactive');
    assert.equal(s.mainPid, 0);
    assert.equal(s.controlGroup, '');
    assert.equal(s.stateChangeUs, 0);
  });

  it('reads a failed unit', () => {
    const s = unitStatusFromShow('x.service', parseShow('ActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=3\nMainPID=0\n'));
    assert.equal(s.result, 'exit-code');
    assert.equal(s.execMainStatus, 3);
  });

  it('asks for every property the status needs', () => {
    for (const p of ['LoadState', 'ActiveState', 'SubState', 'MainPID', 'Result', 'ExecMainStatus', 'ControlGroup', 'NRestarts', 'StateChangeTimestampMonotonic']) {
      assert.ok((SHOW_PROPERTIES as readonly string[]).includes(p), p);
    }
  });
});

describe('system/systemd parseShowBlocks and matchBlocks', () => {
  // Recorded from systemd 252: `show -p Id,Names,LoadState,ActiveState -- a.service b@.service c.service`
  // prints a.service's block, then stops at the name it rejects (exit 1, the error on stderr).
  const STOPPED_AT_REJECTED = 'Id=a.service\nNames=a.service\nLoadState=loaded\nActiveState=active\n';
  const TWO = ['Id=a.service', 'Names=a.service', 'LoadState=loaded', 'ActiveState=active', '', 'Id=c.service', 'Names=c.service', 'LoadState=not-found', 'ActiveState=inactive', ''].join('\n');

  it('splits one block per unit at the empty lines, ignoring a missing final newline and CRLF', () => {
    const blocks = parseShowBlocks(TWO);
    assert.deepEqual(blocks.map((b) => [b.get('Id'), b.get('LoadState')]), [['a.service', 'loaded'], ['c.service', 'not-found']]);
    assert.equal(parseShowBlocks(TWO.trimEnd().replace(/\n/g, '\r\n')).length, 2);
    assert.deepEqual(parseShowBlocks(''), []);
    assert.deepEqual(parseShowBlocks('\n\n'), []);
  });

  it('matches blocks to units by Id, whatever their order, and leaves out units no block names', () => {
    const [a, c] = parseShowBlocks(TWO);
    const m = matchBlocks(['c.service', 'x.service', 'a.service'], [a, c]);
    assert.equal(m.get('a.service'), a);
    assert.equal(m.get('c.service'), c);
    assert.equal(m.has('x.service'), false);
    assert.deepEqual([...matchBlocks(['a.service', 'b@.service', 'c.service'], parseShowBlocks(STOPPED_AT_REJECTED)).keys()], ['a.service']);
  });

  it('matches an alias by Names: the manager shows it under the unit it names', () => {
    const [real] = parseShowBlocks('Id=real.service\nNames=real.service alias.service\nActiveState=active\n');
    assert.equal(matchBlocks(['alias.service'], [real]).get('alias.service'), real);
    // Both names asked: two blocks of the one unit, one for each.
    const m = matchBlocks(['alias.service', 'real.service'], [real, real]);
    assert.deepEqual([...m.keys()], ['alias.service', 'real.service']);
  });

  it('a block naming no asked unit, or two blocks of one unit, take nothing from the others', () => {
    const [a, c] = parseShowBlocks(TWO);
    const m = matchBlocks(['a.service'], [c, a, a]);
    assert.deepEqual([...m.entries()], [['a.service', a]]);
  });
});

describe('system/systemd validateUnitName', () => {
  it('accepts service names, templates instances and escaped names', () => {
    for (const n of ['vllm-chat.service', 'a.service', 'llama@7070.service', 'x_y:z.service', 'a\\x2db.service']) assert.equal(validateUnitName(n), n);
  });

  it('rejects option-like, path-like and non-service names', () => {
    for (const n of ['', '-x.service', '--user.service', 'a/b.service', '../x.service', 'x.socket', 'x', '.service', '@x.service', 'a@b@c.service', 'a b.service', 'a;b.service', `${'a'.repeat(250)}.service`]) {
      assert.throws(() => validateUnitName(n), (e: unknown) => isGpumodError(e, 'CONFIG_INVALID'), n);
    }
  });
});
