import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProjectConfig } from '@featurelog/config';
import { requireDefinition, topicNames, type FeatureViewDefinition, type TaggedDefinition } from '@featurelog/domain';
import { readerSchema, RowDecoder, rowSchemaFor, type FeatureRow } from '@featurelog/avro';
import type { EventLog, LogRecord } from '@featurelog/log';
import { LogProvisioner } from '@featurelog/registry';
import { ProjectRuntime } from '@featurelog/runtime';
import { stackEnv, uniqueName } from '@featurelog/testing';
import { FeatureProducer } from './feature-producer';

/** Test-only: a project with its definitions applied, on the embedded ports or on the stack's Kafka + registry. */
export interface AppliedProject {
  project: string;
  runtime: ProjectRuntime;
  producer: FeatureProducer;
  close(): Promise<void>;
}

/** A driver view of every value type, so encoding and validation see each one. */
export function producerDefinitions(): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_stats',
        version: 1,
        entities: ['driver'],
        features: [
          { name: 'conv_rate', type: 'float64' },
          { name: 'acc_rate', type: 'float32' },
          { name: 'avg_daily_trips', type: 'int64' },
          { name: 'rating', type: 'int32' },
          { name: 'active', type: 'bool' },
          { name: 'city', type: 'string' },
          { name: 'avatar', type: 'bytes' },
          { name: 'last_trip_at', type: 'timestamp' },
          { name: 'recent_fares', type: 'list<float64>' },
        ],
        ttlSeconds: 7200,
        online: true,
        offline: true,
      },
    },
    {
      kind: 'data_source',
      definition: { name: 'rides_topic', kind: 'kafka', topic: 'rides.events', timestampField: 'ts' },
    },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_live',
        version: 1,
        entities: ['driver'],
        features: [{ name: 'speed', type: 'float64' }],
        ttlSeconds: 0,
        source: 'rides_topic',
        online: true,
        offline: false,
      },
    },
  ];
}

/**
 * Applies `definitions` in a fresh project and opens a producer following its registry.
 * `kafka`: the stack's Kafka and schema registry (stackEnv), else embedded ports in a temp folder.
 */
export async function appliedProject(
  kind: 'embedded' | 'kafka',
  definitions: TaggedDefinition[] = producerDefinitions(),
): Promise<AppliedProject> {
  const project = uniqueName('prod').replace(/[^a-z0-9_]/gi, '_');
  const directory = await mkdtemp(join(tmpdir(), 'producer-'));
  const env = stackEnv();
  const config: ProjectConfig = {
    project,
    repoDir: directory,
    log:
      kind === 'kafka'
        ? { type: 'kafka', brokers: env.kafkaBrokers, clientId: 'producer-test' }
        : { type: 'embedded', path: join(directory, 'log') },
    schemaRegistry:
      kind === 'kafka'
        ? { type: 'confluent', url: env.schemaRegistryUrl }
        : { type: 'embedded', path: join(directory, 'schemas') },
    onlineStore: { type: 'embedded', path: join(directory, 'online') },
    offlineStore: { type: 'local', path: join(directory, 'offline') },
  };
  const runtime = await ProjectRuntime.open(config);
  const { follower, applier } = runtime.registry();
  await applier.apply(definitions);
  const producer = new FeatureProducer({ log: runtime.log, schemas: runtime.schemas, project, definitions: follower });
  return {
    project,
    runtime,
    producer,
    close: async () => {
      await follower.stop();
      await runtime.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Every record of a topic, partition by partition. */
export async function readTopic(log: EventLog, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const [partition, end] of await log.endOffsets(topic)) {
    if (end === 0) continue;
    for await (const records of log.read(topic, partition, 0, { untilOffset: end })) out.push(...records);
  }
  return out;
}

/** The rows on a view's topic, decoded with the view's row schema, in the order `sortBy` gives. */
export async function topicRows(
  project: AppliedProject,
  viewName: string,
  sortBy = 'driver_id',
): Promise<FeatureRow[]> {
  const target = await project.producer.target(viewName);
  const entities = target.view.entities.map((name) => requireDefinition(project.producer.definitions, 'entity', name));
  const reader = readerSchema(rowSchemaFor(target.view, entities, project.project));
  const decoder = new RowDecoder(project.runtime.schemas);
  const rows: FeatureRow[] = [];
  for (const record of await readTopic(project.runtime.log, target.topic))
    rows.push(await decoder.decode(record.value!, reader));
  return rows.sort((a, b) => (a[sortBy] as number) - (b[sortBy] as number));
}

/** Provisions a view's topic and schema by hand: the applier provisions only views on managed topics. */
export async function provisionView(project: AppliedProject, viewName: string): Promise<void> {
  const state = project.producer.definitions;
  const view = requireDefinition(state, 'feature_view', viewName);
  const entities = view.entities.map((name) => requireDefinition(state, 'entity', name));
  const topics = {
    project: [],
    features: (v: FeatureViewDefinition) => ({
      name: topicNames.features(project.project, v),
      partitions: 2,
      config: {},
    }),
  };
  await new LogProvisioner(project.project, project.runtime.log, project.runtime.schemas, topics).provision(
    view,
    entities,
  );
}
