import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareRowVersions, type RowVersion } from './row-version';

const at = (partition: number, offset: number) => ({ partition, offset });

describe('compareRowVersions', () => {
  const base: RowVersion = { eventTimestamp: 10, createdTimestamp: null, position: at(0, 5) };

  it('orders by event time, then created time with absent lowest, then log position', () => {
    assert.ok(compareRowVersions({ ...base, eventTimestamp: 11 }, { ...base, createdTimestamp: 99 }) > 0);
    assert.ok(compareRowVersions({ ...base, createdTimestamp: 1 }, base) > 0);
    assert.ok(compareRowVersions({ ...base, position: at(0, 6) }, base) > 0);
    assert.ok(compareRowVersions({ ...base, position: at(1, 5) }, base) > 0);
    assert.equal(compareRowVersions(base, { ...base }), 0);
  });

  it('breaks a tie on both timestamps by source position before the log position, absent lowest', () => {
    const earlier = { ...base, sourcePosition: '00000000000000000100', position: at(1, 900) };
    const later = { ...base, sourcePosition: '00000000000000000200', position: at(0, 1) };
    assert.ok(compareRowVersions(later, earlier) > 0);
    assert.ok(compareRowVersions(earlier, later) < 0);
    assert.ok(compareRowVersions(earlier, { ...base, position: at(9, 9_999) }) > 0);
    assert.ok(compareRowVersions({ ...base, eventTimestamp: 11 }, later) > 0, 'event time still ranks first');
  });
});
