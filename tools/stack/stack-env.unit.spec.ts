import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterHealth, stackEnv, stackEnvVars, stackPorts, stackPostgresEnv, stackSecureEnv } from './stack-env';

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

describe('the stack PostgreSQL as clients see it', () => {
  it('has no password until up has written one, on 127.0.0.1:5432 by default', () => {
    const empty = mkdtempSync(join(tmpdir(), 'featurelog-stack-env-pg-'));
    try {
      assert.deepEqual(stackPostgresEnv({ FEATURELOG_STACK_DIR: empty }), {
        host: '127.0.0.1',
        port: 5432,
        database: 'featurelog',
        user: 'featurelog',
        password: undefined,
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('reads user and password from secure/credentials.json; up prints the rest without the password', () => {
    const pgDir = mkdtempSync(join(tmpdir(), 'featurelog-stack-env-pg-'));
    try {
      mkdirSync(join(pgDir, 'secure'));
      writeFileSync(
        join(pgDir, 'secure', 'credentials.json'),
        JSON.stringify({ postgresUsername: 'owner', postgresPassword: 'pg-pw' }),
      );
      const env = { FEATURELOG_STACK_DIR: pgDir, FEATURELOG_POSTGRES_PORT: '15432' };
      assert.deepEqual(stackPostgresEnv(env), {
        host: '127.0.0.1',
        port: 15432,
        database: 'featurelog',
        user: 'owner',
        password: 'pg-pw',
      });
      assert.equal(stackPostgresEnv({ ...env, FEATURELOG_POSTGRES_PASSWORD: 'other' }).password, 'other');
      const printed = stackEnvVars(env);
      assert.equal(printed.FEATURELOG_POSTGRES_PORT, '15432');
      assert.equal(printed.FEATURELOG_POSTGRES_USER, 'owner');
      assert.ok(!JSON.stringify(printed).includes('pg-pw'));
    } finally {
      rmSync(pgDir, { recursive: true, force: true });
    }
  });

  it('refuses a port variable that is not a port', () => {
    assert.throws(
      () => stackPorts({ FEATURELOG_POSTGRES_PORT: 'x' }),
      /FEATURELOG_POSTGRES_PORT="x" is not a TCP port/,
    );
  });
});

describe('the Redis Cluster as clients see it', () => {
  it('is absent until up --redis-cluster wrote its pid file, unless FEATURELOG_REDIS_CLUSTER_URL names one', () => {
    const clusterDir = mkdtempSync(join(tmpdir(), 'featurelog-stack-cluster-'));
    try {
      const env = { FEATURELOG_STACK_DIR: clusterDir, FEATURELOG_REDIS_CLUSTER_PORT: '17000' };
      assert.equal(stackEnv(env).redisClusterUrl, undefined);
      assert.equal(stackEnvVars(env).FEATURELOG_REDIS_CLUSTER_URL, undefined);
      mkdirSync(join(clusterDir, 'run'));
      writeFileSync(join(clusterDir, 'run', 'redis-cluster.pid'), '{}');
      assert.equal(stackEnv(env).redisClusterUrl, 'redis://127.0.0.1:17000');
      assert.equal(stackEnvVars(env).FEATURELOG_REDIS_CLUSTER_URL, 'redis://127.0.0.1:17000');
      assert.equal(
        stackEnv({ FEATURELOG_REDIS_CLUSTER_URL: 'redis://elsewhere:7000' }).redisClusterUrl,
        'redis://elsewhere:7000',
      );
    } finally {
      rmSync(clusterDir, { recursive: true, force: true });
    }
  });

  it('is healthy when every node is connected and every master serving slots has a replica', () => {
    const nodes = (lines: string[]) => lines.join('\n') + '\n';
    const m1 = 'a 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8191';
    const m2 = 'b 127.0.0.1:7001@17001 master - 0 0 2 connected 8192-16383';
    const r1 = 'c 127.0.0.1:7002@17002 slave a 0 0 1 connected';
    const r2 = 'd 127.0.0.1:7003@17003 slave b 0 0 2 connected';
    assert.deepEqual(clusterHealth(nodes([m1, m2, r1, r2])), { healthy: true, masters: 2, replicas: 2 });
    // A failed-over master not yet back: its old entry fails and the promoted replica has none.
    const promoted = 'd 127.0.0.1:7003@17003 master - 0 0 3 connected 8192-16383';
    const gone = 'b 127.0.0.1:7001@17001 master,fail - 0 0 2 disconnected';
    assert.equal(clusterHealth(nodes([m1, gone, r1, promoted])).healthy, false);
    const rejoined = 'b 127.0.0.1:7001@17001 slave d 0 0 3 connected';
    assert.equal(clusterHealth(nodes([m1, rejoined, r1, promoted])).healthy, true);
  });
});
