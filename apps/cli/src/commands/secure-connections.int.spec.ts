import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProjectConfig, type ProjectConfig } from '@featurelog/config';
import { ConnectionSettingError } from '@featurelog/domain';
import { openEventLog, openOnlineStore, openSchemaRegistry } from '@featurelog/runtime';
import { stackSecureEnv, type StackSecureEnv, uniqueName } from '@featurelog/testing';
import { runCli, runDemo, switchConfigBlock } from '../../../../tools/quickstart/demo';
import { assertDemoResults, expectedTrainingSet } from './demo-oracle.test-kit';

/**
 * The secured listeners of the stack (Kafka SASL_SSL with SCRAM-SHA-512 and PLAIN, Apicurio over
 * HTTPS, Redis over TLS with an ACL user, all signed by the CA that `npm run stack -- up` made):
 * the whole quickstart path over them, configured in featurelog.yaml with the secrets as ${ENV}
 * references, and the start-up errors of a wrong password or an untrusted certificate. Those fail at
 * once by design (non-retriable, no retry loop), so no test here needs a deadline of its own.
 */

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

let secure: StackSecureEnv;
const WRONG_PASSWORD = 'not-the-password-4711';

before(() => {
  const found = stackSecureEnv();
  if (found === undefined) {
    throw new Error(
      'the stack has no secured listeners (no secure/credentials.json under FEATURELOG_STACK_DIR): it was ' +
        'started by an older tools/stack; restart it with `npm run stack -- down && npm run stack -- up`',
    );
  }
  secure = found;
  // featurelog.yaml names these; the CLI children inherit them.
  process.env.FL_TEST_KAFKA_PASSWORD = secure.kafkaPassword;
  process.env.FL_TEST_REDIS_PASSWORD = secure.redisPassword;
  process.env.FL_TEST_WRONG_PASSWORD = WRONG_PASSWORD;
});

function configOf(blocks: string): ProjectConfig {
  return parseProjectConfig(`project: ${uniqueName('secure').replace(/-/g, '_')}\n${blocks}`, {
    file: 'featurelog.yaml',
    repoDir: '/',
  });
}

const kafkaBlock = (overrides: { mechanism?: string; password?: string; tls?: string } = {}) =>
  [
    'log:',
    '  type: kafka',
    `  brokers: ${secure.kafkaBrokers.join(',')}`,
    `  tls: ${overrides.tls ?? `{ ca: ${secure.caFile} }`}`,
    `  sasl: { mechanism: ${overrides.mechanism ?? 'scram-sha-512'}, username: ${secure.kafkaUsername}, password: "${overrides.password ?? '${FL_TEST_KAFKA_PASSWORD}'}" }`,
    '',
  ].join('\n');

const redisBlock = (overrides: { password?: string; tls?: string } = {}) =>
  [
    'onlineStore:',
    '  type: redis',
    `  url: ${secure.redisUrl}`,
    `  username: ${secure.redisUsername}`,
    `  password: "${overrides.password ?? '${FL_TEST_REDIS_PASSWORD}'}"`,
    `  tls: ${overrides.tls ?? `{ ca: ${secure.caFile} }`}`,
    '',
  ].join('\n');

/** The error a start-up failed with; it must be a ConnectionSettingError that repeats no secret. */
async function startupError(opening: Promise<{ close(): Promise<void> }>): Promise<ConnectionSettingError> {
  const error = await opening.then(
    async (opened) => {
      await opened.close();
      return assert.fail('expected the connection to be refused');
    },
    (error: unknown) => error,
  );
  assert.ok(error instanceof ConnectionSettingError, `a ConnectionSettingError, got ${String(error)}`);
  assert.equal(error.retriable, false);
  for (const secret of [secure.kafkaPassword, secure.redisPassword, WRONG_PASSWORD]) {
    assert.ok(!error.message.includes(secret), 'the message repeats no password');
  }
  return error;
}

describe('the full path over SASL_SSL Kafka, HTTPS schema registry and TLS Redis with an ACL user', () => {
  it('apply → ingest and push → materialize → serve → export, with featurelog.yaml changed only', async () => {
    const result = await runDemo({
      configure: async (repoDir) => {
        const file = join(repoDir, 'featurelog.yaml');
        const text = await readFile(file, 'utf8');
        await writeFile(
          file,
          text.replace(/^project: drivers$/m, `project: ${uniqueName('secure').replace(/-/g, '_')}`),
        );
        await switchConfigBlock(repoDir, 'log', [
          'type: kafka',
          `brokers: ${secure.kafkaBrokers.join(',')}`,
          `tls: { ca: ${secure.caFile} }`,
          `sasl: { mechanism: scram-sha-512, username: ${secure.kafkaUsername}, password: "\${FL_TEST_KAFKA_PASSWORD}" }`,
        ]);
        await switchConfigBlock(repoDir, 'schemaRegistry', [
          'type: confluent',
          `url: ${secure.schemaRegistryUrl}`,
          `tls: { ca: ${secure.caFile} }`,
        ]);
        await switchConfigBlock(repoDir, 'onlineStore', [
          'type: redis',
          `url: ${secure.redisUrl}`,
          `username: ${secure.redisUsername}`,
          'password: ${FL_TEST_REDIS_PASSWORD}',
          `tls: { ca: ${secure.caFile} }`,
        ]);
      },
    });
    cleanup.push(() => rm(join(result.repoDir, '..'), { recursive: true, force: true }));
    assert.match(result.devOutput(), /log: +kafka \(127\.0\.0\.1:\d+\)/);
    assert.match(result.devOutput(), /online store: +redis \(rediss:/);
    assertDemoResults(result, await expectedTrainingSet());
    const printed =
      result.devOutput() + (await readFile(join(result.repoDir, '.featurelog', 'dev.json'), 'utf8').catch(() => ''));
    assert.ok(!printed.includes(secure.kafkaPassword) && !printed.includes(secure.redisPassword), 'no secret printed');
  });

  it('SASL PLAIN over TLS appends and reads back', async () => {
    const config = configOf(kafkaBlock({ mechanism: 'plain' }));
    const log = await openEventLog(config.log);
    cleanup.push(() => log.close());
    const topic = uniqueName('secure-plain');
    await log.ensureTopic({ name: topic, partitions: 1, config: {} });
    await log.append(topic, [{ key: Buffer.from('k'), value: Buffer.from('over SASL_SSL') }]);
    const records = [];
    for await (const batch of log.read(topic, 0, 0)) records.push(...batch);
    assert.deepEqual(
      records.map((record) => record.value?.toString()),
      ['over SASL_SSL'],
    );
  });
});

describe('a misconfigured secure connection fails start-up naming the part and the setting', () => {
  it('kafka: a wrong SCRAM password', async () => {
    const error = await startupError(openEventLog(configOf(kafkaBlock({ password: '${FL_TEST_WRONG_PASSWORD}' })).log));
    assert.equal(error.code, 'KAFKA_AUTH_FAILED');
    assert.match(
      error.message,
      /^kafka: authentication to 127\.0\.0\.1:\d+ was refused: .*\(check log\.sasl\.username \/ log\.sasl\.password\)$/s,
    );
  });

  it('kafka: a wrong PLAIN password', async () => {
    const config = configOf(kafkaBlock({ mechanism: 'plain', password: '${FL_TEST_WRONG_PASSWORD}' }));
    assert.equal((await startupError(openEventLog(config.log))).code, 'KAFKA_AUTH_FAILED');
  });

  it('kafka: a certificate signed by a CA the client does not trust', async () => {
    const error = await startupError(openEventLog(configOf(kafkaBlock({ tls: 'true' })).log));
    assert.equal(error.code, 'KAFKA_TLS_UNTRUSTED');
    assert.match(
      error.message,
      /^kafka: the certificate of 127\.0\.0\.1:\d+ is not trusted .*\(check log\.tls\.ca\)$/s,
    );
  });

  it('kafka: TLS towards the plaintext listener', async () => {
    const plain = secure.kafkaBrokers.map((broker) =>
      broker.replace(/:\d+$/, `:${process.env.FEATURELOG_KAFKA_PORT ?? 9092}`),
    );
    const config = configOf(`log: { type: kafka, brokers: "${plain.join(',')}", tls: { ca: "${secure.caFile}" } }\n`);
    const error = await startupError(openEventLog(config.log));
    assert.equal(error.code, 'KAFKA_TLS_HANDSHAKE_FAILED');
    assert.match(error.message, /check log\.tls and log\.brokers/);
  });

  it('redis: a wrong password for the ACL user', async () => {
    const error = await startupError(
      openOnlineStore(configOf(redisBlock({ password: '${FL_TEST_WRONG_PASSWORD}' })).onlineStore),
    );
    assert.equal(error.code, 'REDIS_AUTH_FAILED');
    assert.match(
      error.message,
      /^redis: authentication to rediss:\/\/127\.0\.0\.1:\d+ was refused: WRONGPASS.*\(check onlineStore\.username \/ onlineStore\.password\)$/s,
    );
  });

  it('redis: a certificate signed by a CA the client does not trust', async () => {
    const error = await startupError(openOnlineStore(configOf(redisBlock({ tls: 'true' })).onlineStore));
    assert.equal(error.code, 'REDIS_TLS_UNTRUSTED');
    assert.match(error.message, /\(check onlineStore\.tls\.ca\)$/);
  });

  it('schema registry: a certificate signed by a CA the client does not trust', async () => {
    const config = configOf(`schemaRegistry: { type: confluent, url: "${secure.schemaRegistryUrl}" }\n`);
    const error = await startupError(openSchemaRegistry(config.schemaRegistry));
    assert.equal(error.code, 'SCHEMA_REGISTRY_TLS_UNTRUSTED');
    assert.match(
      error.message,
      /^schema registry: the certificate of https:.* is not trusted .*\(check schemaRegistry\.tls\.ca\)$/s,
    );
  });

  it('the CLI exits with the error, naming the setting, before doing anything', async () => {
    const repoDir = await mkdtemp(join(tmpdir(), 'featurelog-secure-cli-'));
    cleanup.push(() => rm(repoDir, { recursive: true, force: true }));
    await writeFile(
      join(repoDir, 'featurelog.yaml'),
      `project: ${uniqueName('secure').replace(/-/g, '_')}\n${kafkaBlock({ password: '${FL_TEST_WRONG_PASSWORD}' })}`,
    );
    const result = await runCli(['ls', 'entities'], repoDir);
    assert.equal(result.code, 1);
    assert.match(result.stderr + result.stdout, /kafka: authentication to .* was refused.*log\.sasl\.password/s);
    assert.ok(!(result.stderr + result.stdout).includes(WRONG_PASSWORD));
  });
});
