import * as assert from 'node:assert/strict';
import { isGpumodError } from '../../../src/errors';
import { SHOW_PROPERTIES, execArgv, parseShow, unitStatusFromShow, validateUnitName } from '../../../src/system/systemd';

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
