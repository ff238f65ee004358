import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { StackError } from '../stack-error';
import { PORT_ENV, STACK_HOST } from '../stack-env';
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

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  return `# written by tools/stack on every up; edit tools/stack/services/kafka.ts instead
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${STACK_HOST}:${controllerPort}
listeners=PLAINTEXT://${STACK_HOST}:${port},CONTROLLER://${STACK_HOST}:${controllerPort}
advertised.listeners=PLAINTEXT://${STACK_HOST}:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
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
  ],
  endpoint: (ports) => `${STACK_HOST}:${ports.kafka}`,

  async prepare(ctx) {
    const home = path.join(ctx.stackDir, 'kafka');
    const dataDir = path.join(home, 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    const config = path.join(home, 'server.properties');
    const log4j = path.join(home, 'log4j2.properties');
    fs.writeFileSync(config, serverProperties(dataDir, ctx.ports.kafka, ctx.ports.kafkaController));
    fs.writeFileSync(log4j, LOG4J2_PROPERTIES);
    const classpath = `${ctx.artifacts().kafkaLibs}/*`;
    const logging = `-Dlog4j2.configurationFile=${log4j}`;
    if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
      // KRaft storage must be formatted once with a cluster id before the first start.
      const format = spawnSync(
        ctx.java(),
        ['-Xmx256m', logging, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', config],
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
    const client = new Kafka({
      clientId: 'featurelog-stack-probe',
      brokers: [`${STACK_HOST}:${ctx.ports.kafka}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 2000,
      retry: { retries: 0 },
    });
    const admin = client.admin();
    try {
      await admin.connect();
      // a Metadata round trip: the broker answers and knows itself as a live broker
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 ? `cluster ${cluster.clusterId}, controller ${cluster.controller}` : undefined;
    } catch {
      return undefined;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  },
};
