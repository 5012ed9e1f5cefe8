// Security: endpoints are loopback unless the config opts a host in, refused twice (the config loader,
// then the HTTP client before any connection: no packet leaves the machine), and no secret a config
// puts in a URL or a readiness body ever reaches the logs (`--verbose` included) or the history.
import * as assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../../src/config/load';
import { driverFor } from '../../../src/drivers/registry';
import { isGpumodError } from '../../../src/errors';
import { createHttpClient } from '../../../src/system/http';
import { silentLogger, streamLogger } from '../../../src/system/logger';
import { cli, clearFaults, downRig, injectFault, switchTo, upRig, type Rig } from './support';
import { testPort } from '../support/testManager';

const PORT_BASE = testPort(1060);
const LOOPBACK_PORT = testPort(1070);
/** Documentation and reserved addresses and names: nothing answers there, and nothing may be sent. */
const OFF_HOST_URLS = [
  'http://192.0.2.10:7071/sleep?level=1',
  'http://10.255.255.1:7071/is_sleeping',
  'http://0.0.0.0:7071/health',
  'http://gpu-box.invalid:7071/health',
  'http://[::ffff:c000:20a]:7071/health',
  'http://[fe80::1]:7071/health',
  'https://192.0.2.10/wake_up',
  'http://admin:sk-secretPW@192.0.2.10:7071/health',
];

/** Every outgoing TCP connection attempt of this process (node's channel), while `fn` runs. */
async function connectionsDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onNet = (m: unknown): void => void seen.push(`net.client.socket ${String((m as { socket?: { remoteAddress?: string } }).socket?.remoteAddress ?? '?')}`);
  subscribe('net.client.socket', onNet);
  try {
    await fn();
  } finally {
    unsubscribe('net.client.socket', onNet);
  }
  return seen;
}

describe('reliability: security (loopback only unless opted in; no secrets in logs)', function () {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpumod-rel-sec-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('a non-loopback host', () => {
    const HOSTS = ['192.0.2.10', '0.0.0.0', 'gpu-box.invalid', '10.0.0.1'];
    const yaml = (host: string, allowed?: string): string =>
      `${allowed ? `allowed_hosts: [${allowed}]\n` : ''}services:\n  chat: { driver: vllm, unit: chat.service, host: ${host}, port: 7071, vram_mb: 7000, sleep: l1 }\nmodes:\n  rag: { services: [chat] }\n`;

    for (const host of HOSTS) {
      it(`${host}: the config is refused without allowed_hosts (located), accepted with it`, async () => {
        const file = join(dir, `cfg-${host}.yaml`);
        writeFileSync(file, yaml(host));
        const r = await loadConfig(file);
        assert.ok(!r.ok, 'a non-loopback host loaded without opting in');
        const p = r.problems.find((x) => /not loopback/.test(x.message));
        assert.ok(p, JSON.stringify(r.problems));
        assert.deepEqual([p.file, p.line], [file, 2]);
        assert.match(p.message, new RegExp(`host "${host.replace(/\./g, '\\.')}" is not loopback.*allowed_hosts`));
        assert.ok(parseConfig(yaml(host, host), file).ok, 'listing the host in allowed_hosts opts in');
        // Listing another host does not.
        assert.ok(!parseConfig(yaml(host, 'other.example'), file).ok);
      });
    }

    it('the CLI stops at the config (exit 2, the problem located) before touching anything', async function () {
      this.timeout(30_000);
      const file = join(dir, 'cli.yaml');
      writeFileSync(file, yaml('192.0.2.10'));
      const where = { env: { HOME: dir, XDG_STATE_HOME: join(dir, 'state'), GPUMOD_CONFIG: file, GPUMOD_SYSTEMCTL: '/nonexistent/systemctl', GPUMOD_NVIDIA_SMI: '/nonexistent/nvidia-smi' } };
      for (const args of [['status', '--verbose'], ['switch', 'rag', '--verbose'], ['validate']]) {
        const r = await cli(where, args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`${file.replace(/\./g, '\\.')}:2:\\d+: host "192\\.0\\.2\\.10" is not loopback`));
        assert.doesNotMatch(r.stderr, /^\[info\] >/m, 'it ran something');
      }
    });

    it('the HTTP client refuses it too (defence in depth): synchronously, before any DNS lookup or connection, with HTTP_UNREACHABLE', async () => {
      const log: string[] = [];
      const http = createHttpClient(streamLogger((l) => log.push(l), 'trace'), { allowedHosts: ['gpu-box-allowed.invalid'] });
      try {
        const seen = await connectionsDuring(async () => {
          for (const url of OFF_HOST_URLS) {
            const p = http.request({ method: 'POST', url, timeoutMs: 5000 });
            let settled = false;
            p.catch(() => (settled = true));
            await Promise.resolve();
            await Promise.resolve();
            assert.ok(settled, `${url}: not refused at once (the refusal must come before any I/O)`);
            await assert.rejects(p, (e: unknown) => isGpumodError(e, 'HTTP_UNREACHABLE') && /is not a loopback address and not in allowedHosts/.test(e.message));
          }
        });
        assert.deepEqual(seen, [], 'a connection was attempted');
        // The refusal is logged, without the credentials a URL carried.
        assert.equal(log.filter((l) => /refused: not loopback/.test(l)).length, OFF_HOST_URLS.length);
        assert.ok(!log.join('').includes('sk-secretPW'), log.join(''));
        // The instrumentation would have seen one: a loopback request to a closed port is attempted.
        const control = await connectionsDuring(async () => {
          await assert.rejects(http.request({ method: 'GET', url: `http://127.0.0.1:${LOOPBACK_PORT}/health`, timeoutMs: 5000 }), (e: unknown) => isGpumodError(e, 'HTTP_UNREACHABLE'));
        });
        assert.ok(control.length > 0, 'the channels saw no loopback connection: the check above proves nothing');
      } finally {
        await http.close();
      }
    });

    it('a loopback server redirecting off the machine is not followed (the driver sees the 3xx as an error)', async () => {
      const server: Server = createServer((_req, res) => {
        res.writeHead(307, { location: 'http://192.0.2.10:7071/is_sleeping' });
        res.end();
      });
      await new Promise<void>((res) => server.listen(LOOPBACK_PORT, '127.0.0.1', () => res()));
      const http = createHttpClient(silentLogger, { keepAliveMs: 100 });
      try {
        const r = parseConfig(`services:\n  chat: { driver: vllm, unit: chat.service, port: ${LOOPBACK_PORT}, vram_mb: 7000, sleep: l1 }\nmodes: {}\n`, 'x.yaml');
        assert.ok(r.ok);
        const svc = r.config.services.get('chat');
        assert.ok(svc);
        const seen = await connectionsDuring(async () => {
          const p = await driverFor(svc).probe(svc, { http, log: silentLogger, signal: AbortSignal.timeout(10_000) });
          assert.equal(p.state, 'error');
          assert.match(p.detail ?? '', /answered 307/);
        });
        assert.ok(seen.length > 0 && seen.every((s) => /127\.0\.0\.1|beforeConnect 127/.test(s) || s === 'net.client.socket ?'), `connections: ${seen.join(', ')}`);
        assert.ok(!seen.some((s) => s.includes('192.0.2.10')));
      } finally {
        await http.close();
        server.closeAllConnections();
        await new Promise<void>((res) => server.close(() => res()));
      }
    });
  });

  describe('secrets in a service URL and a readiness body never reach the logs', () => {
    const SECRETS = ['sk-secretBODY0123456789abcdef', 'sk-secretURL0123456789abcdef', 'HEALTHTOKEN0123456789abcdef'];
    let rig: Rig;

    before(async function () {
      this.timeout(120_000);
      rig = await upRig('sec', PORT_BASE, (y) => {
        y.services['vllm-chat'].readiness = { method: 'POST', path: `/v1/completions?api_key=${SECRETS[1]}`, body: { model: 'chat-2b-vl', prompt: 'ping', max_tokens: 1, api_key: SECRETS[0] } };
        y.services['vllm-embedding'].health_path = `/health?token=${SECRETS[2]}`;
      });
    });

    after(async function () {
      this.timeout(120_000);
      if (rig) await downRig(rig);
    });

    it('switches (ok and failing) with --verbose, status, plan and history: no secret in any output or in history.jsonl', async function () {
      this.timeout(180_000);
      const outputs: string[] = [];
      const run = async (args: string[]): Promise<number | null> => {
        const r = await cli(rig, args);
        outputs.push(`$ gpumod ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
        return r.code;
      };
      await switchTo(rig, 'blank');
      assert.equal(await run(['switch', 'rag', '--verbose']), 0); // cold start of vllm-embedding: health polled; vllm-chat wakes or starts: readiness
      assert.equal(await run(['switch', 'code', '--verbose']), 0);
      await injectFault(rig, 'vllm-chat', { endpoint: '/v1/completions', kind: '500' });
      assert.equal(await run(['switch', 'rag', '--verbose']), 1); // the readiness fails: its error is printed and recorded
      await clearFaults(rig);
      assert.equal(await run(['switch', 'rag', '--verbose', '--json']), 0);
      await run(['status', '--verbose']);
      await run(['status', '--json', '--verbose']);
      await run(['plan', 'blank', '--verbose']);
      await run(['history']);
      await run(['history', '--json']);
      const all = outputs.join('\n');
      const files = ['history.jsonl', 'state.json'].map((f) => readFileSync(join(rig.stateDir, f), 'utf8')).join('\n');
      for (const secret of SECRETS) {
        assert.ok(!all.includes(secret), `a secret reached the output:\n${all.split('\n').filter((l) => l.includes(secret)).slice(0, 5).join('\n')}`);
        assert.ok(!files.includes(secret), 'a secret reached the state files');
      }
      // The calls were logged (so the check above looked at something), masked.
      assert.match(all, /> GET http:\/\/127\.0\.0\.1:\d+\/health\?token=\*\*\* /);
      assert.match(all, /> POST http:\/\/127\.0\.0\.1:\d+\/v1\/completions\?api_key=\*\*\* 200/);
      assert.match(all, /readiness POST \/v1\/completions\?api_key=\*\*\* answered 500/);
    });
  });
});
