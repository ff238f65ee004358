import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogError } from '@featurelog/domain';

describe('FeaturelogError', () => {
  it('keeps its code, retriability and cause', () => {
    const cause = new Error('socket closed');
    const error = new FeaturelogError('LOG_UNAVAILABLE', 'broker down', { retriable: true, cause });
    assert.equal(error.code, 'LOG_UNAVAILABLE');
    assert.equal(error.retriable, true);
    assert.equal(error.cause, cause);
    assert.equal(error.name, 'FeaturelogError');
  });
});
