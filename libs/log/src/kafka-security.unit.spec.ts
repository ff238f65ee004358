import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionSettingError } from '@featurelog/domain';
import { kafkaSettingError } from '@featurelog/log';

// Shaped as kafkajs 2.2.4 raises them (errors.js): the class name, its type, its cause chain.
function kafkajsError(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name, ...extra });
}

describe('kafkaSettingError', () => {
  it('a refused SCRAM or PLAIN login names the credentials, not retriable', () => {
    const error = kafkaSettingError(
      kafkajsError('KafkaJSSASLAuthenticationError', 'SASL SCRAM SHA512 authentication failed: invalid credentials'),
      '127.0.0.1:9094',
    );
    assert.ok(error instanceof ConnectionSettingError);
    assert.equal(error.code, 'KAFKA_AUTH_FAILED');
    assert.equal(error.retriable, false);
    assert.equal(error.setting, 'log.sasl.username / log.sasl.password');
    assert.match(
      error.message,
      /^kafka: authentication to 127\.0\.0\.1:9094 was refused: .*\(check log\.sasl\.username/,
    );
  });

  it('a mechanism the broker does not offer names the mechanism', () => {
    const error = kafkaSettingError(
      kafkajsError('KafkaJSProtocolError', 'The broker does not support the requested SASL mechanism', {
        type: 'UNSUPPORTED_SASL_MECHANISM',
      }),
      'b:1',
    );
    assert.equal(error?.setting, 'log.sasl.mechanism');
  });

  it('an untrusted certificate, found anywhere in the cause chain, names the CA setting', () => {
    const socket = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    const wrapped = kafkajsError('KafkaJSNonRetriableError', 'Connection error', {
      cause: kafkajsError('KafkaJSConnectionError', 'Connection error: self-signed certificate in certificate chain', {
        originalError: socket,
      }),
    });
    const error = kafkaSettingError(wrapped, 'b:1', 'log');
    assert.equal(error?.code, 'KAFKA_TLS_UNTRUSTED');
    assert.equal(error?.setting, 'log.tls.ca');
    assert.equal(error?.retriable, false);
  });

  it('a host the certificate was not issued for, and TLS towards a plaintext port', () => {
    const name = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    assert.equal(kafkaSettingError(name, 'b:1')?.code, 'KAFKA_TLS_NAME_MISMATCH');
    const plaintext = Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' });
    assert.equal(kafkaSettingError(plaintext, 'b:1')?.setting, 'log.tls and log.brokers');
  });

  it('leaves unavailable brokers to the usual mapping (retriable)', () => {
    const refused = kafkajsError('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED', {
      code: 'ECONNREFUSED',
    });
    assert.equal(kafkaSettingError(refused, 'b:1'), undefined);
  });
});
