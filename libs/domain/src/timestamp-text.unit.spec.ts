import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimestampText } from '@featurelog/domain';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5) * 1000;

describe('parseTimestampText', () => {
  it('reads ISO 8601 exactly to the microsecond, naive as UTC, with offsets', () => {
    assert.equal(parseTimestampText('2025-01-02T03:04:05Z'), T0);
    assert.equal(parseTimestampText('2025-01-02T03:04:05'), T0);
    assert.equal(parseTimestampText('2025-01-02 03:04:05.000001'), T0 + 1);
    assert.equal(parseTimestampText('2025-01-02T03:04:05.1234569Z'), T0 + 123_456);
    assert.equal(parseTimestampText('2025-01-02T04:04:05+01:00'), T0);
    assert.equal(parseTimestampText('2025-01-02T02:34:05-0030'), T0);
    assert.equal(parseTimestampText('2025-01-02'), Date.UTC(2025, 0, 2) * 1000);
  });
  it('reads every form its doc comment lists', () => {
    assert.equal(parseTimestampText('  2025-01-02T03:04:05,5 UTC '), T0 + 500_000);
    assert.equal(parseTimestampText('2025-01-02T03:04z'), T0 - 5_000_000);
    assert.equal(parseTimestampText('2025-01-02T04:04:05+01'), T0);
    assert.equal(parseTimestampText('2025-01-02+01:00'), Date.UTC(2025, 0, 1, 23) * 1000);
    assert.equal(parseTimestampText('1969-12-31T23:59:59.999999Z'), -1);
  });
  it('refuses impossible dates and other text', () => {
    for (const text of [
      '2025-02-30',
      '2025-01-02T24:00:00',
      'yesterday',
      '1735787045',
      '2025-1-2',
      '',
      '0099-01-01',
      '2025-01-02T03:04:05+24:00',
      '2025-01-02T03:04:60',
    ])
      assert.equal(parseTimestampText(text), undefined, text);
  });
});
