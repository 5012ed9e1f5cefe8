import * as assert from 'node:assert/strict';
import { redactUrl } from '../../../src/system/redact';

describe('reliability: redactUrl (what a log may show of an endpoint)', () => {
  it('leaves URLs without credentials byte for byte (sleep levels, wake tags)', () => {
    for (const u of ['http://127.0.0.1:7071/sleep?level=1&mode=wait', '/wake_up?tags=weights', 'http://[::1]:8080/models', '/health', 'not a url at all']) {
      assert.equal(redactUrl(u), u);
    }
  });

  it('masks query values named like credentials, or that look like keys, and user info', () => {
    assert.equal(redactUrl('http://127.0.0.1:1/health?token=abc&x=1'), 'http://127.0.0.1:1/health?token=***&x=1');
    assert.equal(redactUrl('/v1/completions?api_key=sk-123'), '/v1/completions?api_key=***');
    assert.equal(redactUrl('/h?Authorization=Bearer%20x&password=p&sig=s'), '/h?Authorization=***&password=***&sig=***');
    assert.equal(redactUrl('/h?q=sk-live-123&r=hf_abc&level=2'), '/h?q=***&r=***&level=2');
    assert.equal(redactUrl('http://u:p@127.0.0.1/x'), 'http://***:***@127.0.0.1/x');
    assert.ok(!redactUrl('http://admin:sk-secretPW@192.0.2.10:7071/health').includes('sk-secretPW'));
  });

  it('masks the same in URLs the parser refuses (they are still logged)', () => {
    assert.equal(redactUrl('http://user:SECRET@127.999.999.999:7000/x'), 'http://***@127.999.999.999:7000/x');
    assert.equal(redactUrl('http://a@b:c@[::1:7000/x?api_key=k&level=1'), 'http://***@[::1:7000/x?api_key=***&level=1');
    assert.equal(redactUrl('http://127.999.0.1:7000/wake_up?tags=weights'), 'http://127.999.0.1:7000/wake_up?tags=weights');
  });
});
