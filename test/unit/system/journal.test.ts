import * as assert from 'node:assert/strict';
import { parseJournalJson } from '../../../src/system/journal';

describe('system/journal: journalctl -o json', () => {
  it('reads timestamp, priority and message; bytes as UTF-8; skips what is not an entry', () => {
    const text = [
      JSON.stringify({ __REALTIME_TIMESTAMP: '1795802152123456', PRIORITY: '3', MESSAGE: 'boom' }),
      JSON.stringify({ __REALTIME_TIMESTAMP: '1795802153000000', PRIORITY: '6', MESSAGE: [104, 195, 169] }),
      JSON.stringify({ __REALTIME_TIMESTAMP: '1795802154000000', MESSAGE: null }),
      '-- No entries --',
      '{"not json',
      JSON.stringify({ MESSAGE: 'no time' }),
      JSON.stringify({ __REALTIME_TIMESTAMP: '1e30', MESSAGE: 'bad time' }),
    ].join('\n');
    assert.deepEqual(parseJournalJson(text), [
      { timestamp: '2026-11-27T17:55:52.123Z', priority: 3, message: 'boom' },
      { timestamp: '2026-11-27T17:55:53.000Z', priority: 6, message: 'hé' },
      { timestamp: '2026-11-27T17:55:54.000Z', priority: 6, message: '' },
    ]);
  });
});
