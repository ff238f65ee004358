import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { onlineStatus } from '@featurelog/domain';

describe('onlineStatus', () => {
  const now = 10_000_000_000;
  it('is NOT_FOUND when there is no row', () => {
    assert.equal(onlineStatus(null, 60, now), 'NOT_FOUND');
    assert.equal(onlineStatus(undefined, 0, now), 'NOT_FOUND');
  });
  it('is PRESENT within the TTL, bound included, and OUTSIDE_MAX_AGE beyond', () => {
    assert.equal(onlineStatus({ eventTimestamp: now - 60_000_000 }, 60, now), 'PRESENT');
    assert.equal(onlineStatus({ eventTimestamp: now - 60_000_001 }, 60, now), 'OUTSIDE_MAX_AGE');
    assert.equal(onlineStatus({ eventTimestamp: now + 5 }, 60, now), 'PRESENT');
  });
  it('never expires with TTL 0', () => {
    assert.equal(onlineStatus({ eventTimestamp: 0 }, 0, now), 'PRESENT');
  });
});
