import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redisSettingError } from '@featurelog/online-store';

function reply(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' });
}

describe('redisSettingError', () => {
  it('a refused ACL user or password names both settings, not retriable', () => {
    const error = redisSettingError(
      reply('WRONGPASS invalid username-password pair or user is disabled.'),
      'rediss://127.0.0.1:6380',
    );
    assert.equal(error?.code, 'REDIS_AUTH_FAILED');
    assert.equal(error?.retriable, false);
    assert.equal(error?.setting, 'onlineStore.username / onlineStore.password');
    assert.match(error!.message, /^redis: authentication to rediss:\/\/127\.0\.0\.1:6380 was refused: WRONGPASS/);
  });

  it('a server that wants a password and got none', () => {
    assert.equal(redisSettingError(reply('NOAUTH Authentication required.'), 'r')?.code, 'REDIS_AUTH_FAILED');
  });

  it('an untrusted certificate names onlineStore.tls.ca', () => {
    const socket = Object.assign(new Error('unable to verify the first certificate'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const error = redisSettingError(socket, 'r');
    assert.equal(error?.code, 'REDIS_TLS_UNTRUSTED');
    assert.equal(error?.setting, 'onlineStore.tls.ca');
  });

  it('other failures are not the fault of a setting', () => {
    assert.equal(
      redisSettingError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'r'),
      undefined,
    );
    assert.equal(redisSettingError(reply('ERR unknown command'), 'r'), undefined);
  });
});
