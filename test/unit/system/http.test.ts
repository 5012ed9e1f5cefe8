import * as assert from 'node:assert/strict';
import { isGpumodError } from '../../../src/errors';
import { isLoopbackHost } from '../../../src/config/hosts';
import { createHttpClient, parseJson } from '../../../src/system/http';
import { streamLogger } from '../../../src/system/logger';

describe('system/http isLoopbackHost', () => {
  it('accepts loopback names and addresses', () => {
    for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '[::1]', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
  });

  it('refuses everything else', () => {
    for (const h of ['10.0.0.5', '192.168.1.10', '0.0.0.0', 'example.com', 'localhost.example.com', '::', '[fe80::1]', '128.0.0.1', '127.999.999.999', '127.1', '2130706433', '[127.0.0.1]']) {
      assert.ok(!isLoopbackHost(h), h);
    }
  });
});

describe('system/http invalid URLs', () => {
  it('refuses an invalid URL with a logged line and a message that never carry its credentials', async () => {
    const lines: string[] = [];
    const http = createHttpClient(streamLogger((l) => lines.push(l)));
    await assert.rejects(http.request({ method: 'GET', url: 'http://user:SECRET@127.999.999.999:7000/health?token=T0K', timeoutMs: 1000 }), (e: unknown) => {
      assert.ok(isGpumodError(e, 'HTTP_UNREACHABLE'));
      assert.equal(e.message, 'invalid URL "http://***@127.999.999.999:7000/health?token=***"');
      assert.doesNotMatch(JSON.stringify(e.cause, Object.getOwnPropertyNames(e.cause)), /SECRET|T0K/);
      return true;
    });
    assert.deepEqual(lines, ['[warn] > GET http://***@127.999.999.999:7000/health?token=*** refused: invalid URL\n']);
    await http.close();
  });
});

describe('system/http parseJson', () => {
  it('returns the parsed body', () => {
    assert.deepEqual(parseJson({ status: 200, body: '{"is_sleeping":true}', ms: 1 }, 'GET /is_sleeping'), { is_sleeping: true });
  });

  it('names the endpoint and quotes an excerpt of a malformed body', () => {
    assert.throws(
      () => parseJson({ status: 502, body: `<html>Bad Gateway${' x'.repeat(500)}</html>`, ms: 1 }, 'vllm-chat GET /is_sleeping'),
      (e: unknown) => {
        assert.ok(isGpumodError(e, 'HTTP_BAD_RESPONSE'));
        assert.match(e.message, /^vllm-chat GET \/is_sleeping answered malformed JSON \(HTTP 502\): <html>Bad Gateway x x/);
        assert.ok(e.message.length < 300);
        assert.ok(e.cause instanceof SyntaxError);
        return true;
      },
    );
  });
});
