import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FeaturelogError } from '@featurelog/domain';
import { ApiKeyVerifier } from '@featurelog/auth';

const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof FeaturelogError);
    assert.doesNotMatch(error.message, /s3cret|pushkey/, 'a message never holds a key');
    return error.code;
  }
};

describe('ApiKeyVerifier', () => {
  const verifier = new ApiKeyVerifier({
    apiKeys: [
      { name: 'model', key: 's3cret', scopes: ['read'] },
      { name: 'ingest', sha256: createHash('sha256').update('pushkey').digest('hex'), scopes: ['push', 'read'] },
    ],
  });

  it('accepts a key with the scope, by Bearer or X-API-Key, and names the caller', () => {
    assert.deepEqual(verifier.authorize({ authorization: 'Bearer s3cret' }, 'read'), { name: 'model' });
    assert.deepEqual(verifier.authorize({ 'x-api-key': 'pushkey' }, 'push'), { name: 'ingest' });
  });

  it('answers UNAUTHENTICATED without a valid key and FORBIDDEN without the scope', () => {
    assert.equal(
      code(() => verifier.authorize({}, 'read')),
      'UNAUTHENTICATED',
    );
    assert.equal(
      code(() => verifier.authorize({ authorization: 'Bearer s3cre' }, 'read')),
      'UNAUTHENTICATED',
    );
    assert.equal(
      code(() => verifier.authorize({ authorization: 'Basic s3cret' }, 'read')),
      'UNAUTHENTICATED',
    );
    assert.equal(
      code(() => verifier.authorize({ authorization: 'Bearer s3cret' }, 'push')),
      'FORBIDDEN',
    );
    assert.equal(
      code(() => verifier.authorize({ 'x-api-key': 'pushkey' }, 'apply')),
      'FORBIDDEN',
    );
  });

  it('is disabled without keys, and refuses a config it cannot use, naming the entry', () => {
    assert.deepEqual(new ApiKeyVerifier({}).authorize({}, 'apply'), { name: 'anonymous' });
    assert.equal(new ApiKeyVerifier({ apiKeys: [] }).enabled, false);
    const bad = (apiKeys: unknown) => () => new ApiKeyVerifier({ apiKeys } as never);
    assert.throws(
      bad([{ name: 'a', scopes: ['read'] }]),
      /auth.apiKeys\[0\] \("a"\) needs exactly one of key or sha256/,
    );
    assert.throws(bad([{ name: 'a', sha256: 'abc', scopes: ['read'] }]), /64 lowercase hex/);
    assert.throws(
      bad([{ name: 'a', key: 'k', scopes: ['write'] }]),
      /"write"; expected one of read, push, apply, jobs, admin/,
    );
    assert.throws(
      bad([{ name: 'model', scopes: ['read'], unavailable: 'environment variable MODEL_KEY is not set (f.yaml:4)' }]),
      (error: FeaturelogError) =>
        error.code === 'CONFIG_INVALID' &&
        /"model" cannot be checked: environment variable MODEL_KEY/.test(error.message),
    );
    assert.throws(
      bad([
        { name: 'a', key: 'k', scopes: ['read'] },
        { name: 'a', key: 'j', scopes: ['read'] },
      ]),
      /auth.apiKeys\[1\].name "a" is used twice/,
    );
  });
});
