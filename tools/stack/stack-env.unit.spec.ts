import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackEnvVars, stackPorts, stackSecureEnv } from './stack-env';

const dir = mkdtempSync(join(tmpdir(), 'featurelog-stack-env-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the secured listeners as clients see them', () => {
  it('are absent until up has written the CA and the credentials', () => {
    assert.equal(stackSecureEnv({ FEATURELOG_STACK_DIR: dir }), undefined);
  });

  it('come from secure/ of the stack dir and the port variables; up prints them without the passwords', () => {
    mkdirSync(join(dir, 'secure'));
    writeFileSync(join(dir, 'secure', 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    writeFileSync(
      join(dir, 'secure', 'credentials.json'),
      JSON.stringify({ kafkaUsername: 'k', kafkaPassword: 'kafka-pw', redisUsername: 'r', redisPassword: 'redis-pw' }),
    );
    const env = {
      FEATURELOG_STACK_DIR: dir,
      FEATURELOG_KAFKA_SECURE_PORT: '19094',
      FEATURELOG_REDIS_TLS_PORT: '16380',
    };
    assert.deepEqual(stackSecureEnv(env), {
      caFile: join(dir, 'secure', 'ca.pem'),
      kafkaBrokers: ['127.0.0.1:19094'],
      kafkaUsername: 'k',
      kafkaPassword: 'kafka-pw',
      schemaRegistryUrl: 'https://127.0.0.1:8443/apis/ccompat/v7',
      redisUrl: 'rediss://127.0.0.1:16380',
      redisUsername: 'r',
      redisPassword: 'redis-pw',
    });
    const printed = JSON.stringify(stackEnvVars(env));
    assert.match(printed, /"FEATURELOG_KAFKA_SECURE_BROKERS":"127\.0\.0\.1:19094"/);
    assert.ok(!printed.includes('kafka-pw') && !printed.includes('redis-pw'));
  });

  it('take the default ports beside the plain ones', () => {
    const ports = stackPorts({});
    assert.deepEqual([ports.kafkaSecure, ports.schemaRegistryTls, ports.redisTls], [9094, 8443, 6380]);
  });
});
