import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { StackError } from '../stack-error';
import { PORT_ENV, STACK_HOST } from '../stack-env';
import type { SecureMaterial } from '../secure-material';
import { heap, JVM_FLAGS, LOG4J2_PROPERTIES, type StackService } from '../service';

/**
 * A KRaft cluster id as Kafka's `Uuid.randomUuid()` makes one: 16 random bytes in base64url
 * without padding, drawn again when the text starts with `-` (kafka-storage's argument parser
 * reads such an id as an option: about 1 draw in 64) or when the bytes are one of the two
 * reserved ids (all zero, and the metadata topic's 0…01).
 */
export function clusterId(draw: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const bytes = draw(16);
    const reserved = bytes.subarray(0, 15).every((byte) => byte === 0) && bytes[15]! <= 1;
    const id = bytes.toString('base64url');
    if (!reserved && !id.startsWith('-')) return id;
  }
}

function serverProperties(
  dataDir: string,
  port: number,
  controllerPort: number,
  securePort: number,
  secure: SecureMaterial,
): string {
  const { kafkaUsername, kafkaPassword } = secure.credentials;
  return `# written by tools/stack on every up; edit tools/stack/services/kafka.ts instead
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${STACK_HOST}:${controllerPort}
listeners=PLAINTEXT://${STACK_HOST}:${port},CONTROLLER://${STACK_HOST}:${controllerPort},SASL_SSL://${STACK_HOST}:${securePort}
advertised.listeners=PLAINTEXT://${STACK_HOST}:${port},SASL_SSL://${STACK_HOST}:${securePort}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
# The secured listener, as managed Kafka offers it: SCRAM-SHA-512 (users written into the storage by
# kafka-storage format --add-scram) and PLAIN (users in the JAAS line), both over TLS.
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${kafkaUsername}="${kafkaPassword}";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=${secure.keystoreFile}
listener.name.sasl_ssl.ssl.client.auth=none
log.dirs=${dataDir}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# a dev broker: no 3 s wait before the first consumer group rebalance
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
`;
}

export const kafka: StackService = {
  name: 'kafka',
  dependsOn: [],
  needsJava: true,
  readyTimeoutMs: 90_000,
  stopGraceMs: 30_000,
  ports: (ports) => [
    { port: ports.kafka, envVar: PORT_ENV.kafka, service: 'kafka' },
    { port: ports.kafkaController, envVar: PORT_ENV.kafkaController, service: 'kafka controller' },
    { port: ports.kafkaSecure, envVar: PORT_ENV.kafkaSecure, service: 'kafka SASL_SSL' },
  ],
  endpoint: (ports) => `${STACK_HOST}:${ports.kafka}`,

  async prepare(ctx) {
    const home = path.join(ctx.stackDir, 'kafka');
    const dataDir = path.join(home, 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    const config = path.join(home, 'server.properties');
    const log4j = path.join(home, 'log4j2.properties');
    const secure = ctx.secure();
    fs.writeFileSync(
      config,
      serverProperties(dataDir, ctx.ports.kafka, ctx.ports.kafkaController, ctx.ports.kafkaSecure, secure),
      { mode: 0o600 },
    );
    fs.writeFileSync(log4j, LOG4J2_PROPERTIES);
    const classpath = `${ctx.artifacts().kafkaLibs}/*`;
    const logging = `-Dlog4j2.configurationFile=${log4j}`;
    if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
      // KRaft storage must be formatted once with a cluster id before the first start.
      const { kafkaUsername, kafkaPassword } = secure.credentials;
      const format = spawnSync(
        ctx.java(),
        ['-Xmx256m', logging, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', config]
          // The SCRAM user of the SASL_SSL listener, in the first metadata records (KIP-900).
          .concat(['--add-scram', `SCRAM-SHA-512=[name=${kafkaUsername},password=${kafkaPassword}]`]),
        { encoding: 'utf8' },
      );
      fs.appendFileSync(path.join(ctx.logDir, 'kafka.log'), `${format.stdout}${format.stderr}`);
      if (format.status !== 0) {
        throw new StackError('KAFKA_FORMAT_FAILED', `kafka-storage format failed (exit ${format.status})`, {
          hint: `see ${path.join(ctx.logDir, 'kafka.log')}; deleting ${dataDir} starts from empty storage`,
        });
      }
    }
    return {
      command: ctx.java(),
      args: [...heap('FEATURELOG_KAFKA_HEAP', '512m'), ...JVM_FLAGS, logging, '-cp', classpath, 'kafka.Kafka', config],
      cwd: home,
      env: process.env,
    };
  },

  async probe(ctx) {
    const plain = await describeCluster({ brokers: [`${STACK_HOST}:${ctx.ports.kafka}`] });
    if (plain === undefined) return undefined;
    // The SASL_SSL listener with the SCRAM user: proves the certificate and the user are in place.
    const { caFile, credentials } = ctx.secure();
    const secured = await describeCluster({
      brokers: [`${STACK_HOST}:${ctx.ports.kafkaSecure}`],
      ssl: { ca: fs.readFileSync(caFile, 'utf8') },
      sasl: { mechanism: 'scram-sha-512', username: credentials.kafkaUsername, password: credentials.kafkaPassword },
    });
    return secured === undefined ? undefined : `${plain}; SASL_SSL (SCRAM-SHA-512) answers`;
  },
};

/** A Metadata round trip: the broker answers and knows itself as a live broker. */
async function describeCluster(config: Pick<KafkaConfig, 'brokers' | 'ssl' | 'sasl'>): Promise<string | undefined> {
  const client = new Kafka({
    ...config,
    clientId: 'featurelog-stack-probe',
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
  });
  const admin = client.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 ? `cluster ${cluster.clusterId}, controller ${cluster.controller}` : undefined;
  } catch {
    return undefined;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
