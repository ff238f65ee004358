import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { loadProjectConfig } from '@featurelog/config';
import {
  compareRowVersions,
  encodeEntityKey,
  pushDestinationOf,
  PUSH_TO_HEADER,
  SILENT_LOGGER,
  topicNames,
  valueSubject,
  type EntityDefinition,
  type FeaturelogLogger,
  type FeatureValue,
  type FeatureViewDefinition,
  type JoinKey,
  type PushDestination,
  type RowVersion,
  type TaggedDefinition,
} from '@featurelog/domain';
import { avroType, encodeRow, readerSchema, rowSchemaFor, RowDecoder, type FeatureRow } from '@featurelog/avro';
import type { EventLog, RecordPosition } from '@featurelog/log';
import type { OnlineStore } from '@featurelog/online-store';
import type { RegistryApplier, RegistryFollower } from '@featurelog/registry';
import { ProjectRuntime } from '@featurelog/runtime';
import { AppProcess, stackEnv, uniqueName, waitFor, type WaitOptions } from '@featurelog/testing';
import { Materializer } from './materializer';
import { MaterializerMetrics } from './materializer-metrics';
import type { MaterializerOptions } from './materializer-options';
import { CHECKPOINT_MARKER_TOPIC } from './online-run';

/** Test-only helpers: a project on the embedded ports or the stack, rows produced the plain way, and the oracle. */

export const driver: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };

export function statsView(overrides: Partial<FeatureViewDefinition> = {}): FeatureViewDefinition {
  return {
    name: 'driver_stats',
    version: 1,
    entities: ['driver'],
    features: [
      { name: 'conv_rate', type: 'float64' },
      { name: 'trips', type: 'int64' },
      { name: 'city', type: 'string' },
    ],
    ttlSeconds: 0,
    online: true,
    offline: true,
    partitions: 3,
    ...overrides,
  };
}

export function baseDefinitions(...views: FeatureViewDefinition[]): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: driver },
    ...(views.length > 0 ? views : [statsView()]).map(
      (definition) => ({ kind: 'feature_view', definition }) as TaggedDefinition,
    ),
  ];
}

/**
 * Makes driver_stats rows around `base` (µs): `row(driverId, offsetMicros, trips, extra)` has the event
 * time base + offsetMicros, no created time, and features derived from `trips`; `extra` overrides fields.
 */
export function statsRowsAround(
  base: number,
): (driverId: number, offsetMicros: number, trips: number, extra?: Partial<FeatureRow>) => FeatureRow {
  return (driverId, offsetMicros, trips, extra = {}) => ({
    driver_id: driverId,
    event_timestamp: base + offsetMicros,
    created_timestamp: null,
    conv_rate: trips / 100,
    trips,
    city: `city-${trips}`,
    ...extra,
  });
}

/**
 * `count` random driver_stats rows over `entities` drivers (driver_id 0 to entities - 1), with event and
 * created timestamps out of order on purpose: events within 50 s of `base` (µs), created times within
 * 3 µs of it or null. `seed` advances with every draw, so that successive calls continue one sequence.
 */
export function randomRows(count: number, entities: number, seed: { value: number }, base: number): FeatureRow[] {
  const next = () => (seed.value = (seed.value * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: count }, () => {
    const trips = Math.floor(next() * 1_000_000);
    return {
      driver_id: Math.floor(next() * entities),
      event_timestamp: base + Math.floor(next() * 50) * 1_000,
      created_timestamp: next() < 0.3 ? null : base + Math.floor(next() * 3),
      conv_rate: trips / 7,
      trips,
      city: `c${trips % 97}`,
    };
  });
}

export interface TestProject {
  project: string;
  repoDir: string;
  runtime: ProjectRuntime;
  /** The test's own view of the registry (the materializer under test follows with its own). */
  follower: RegistryFollower;
  applier: RegistryApplier;
  store(): Promise<OnlineStore>;
  apply(definitions: TaggedDefinition[]): Promise<void>;
  topic(view: string): string;
  /** Encodes rows with the latest schema registered for the view's topic and appends them keyed by entity. */
  produce(
    view: string,
    rows: FeatureRow[],
    log?: EventLog,
    headers?: Record<string, string>,
  ): Promise<RecordPosition[]>;
  close(): Promise<void>;
}

/**
 * A fresh project with a featurelog.yaml in a temp folder: `embedded` (file log, local schemas,
 * classic-level) or `stack` (the stack's Kafka, schema registry and Redis, see stackEnv).
 */
export async function openTestProject(
  kind: 'embedded' | 'stack',
  options: {
    /** `stack` with this Redis Cluster as the online store instead of the stack's single Redis */
    redisClusterUrl?: string;
    /** Consumer group liveness on the stack (featurelog.yaml `log`), for tests that stop a member. */
    sessionTimeoutMs?: number;
    heartbeatIntervalMs?: number;
  } = {},
): Promise<TestProject> {
  const project = uniqueName('mat').replace(/[^a-z0-9_]/gi, '_');
  const repoDir = await mkdtemp(join(tmpdir(), 'materializer-'));
  const env = stackEnv();
  const yaml =
    kind === 'embedded'
      ? `project: ${project}\n`
      : [
          `project: ${project}`,
          `log: { type: kafka, brokers: '${env.kafkaBrokers.join(',')}'${(
            ['sessionTimeoutMs', 'heartbeatIntervalMs'] as const
          )
            .filter((name) => options[name] !== undefined)
            .map((name) => `, ${name}: ${options[name]}`)
            .join('')} }`,
          `schemaRegistry: { type: confluent, url: '${env.schemaRegistryUrl}' }`,
          options.redisClusterUrl === undefined
            ? `onlineStore: { type: redis, url: '${env.redisUrl}' }`
            : `onlineStore: { type: redis, cluster: true, url: '${options.redisClusterUrl}' }`,
          '',
        ].join('\n');
  await writeFile(join(repoDir, 'featurelog.yaml'), yaml);
  const runtime = await ProjectRuntime.open(await loadProjectConfig(repoDir, { env: {} }));
  const { follower, applier } = runtime.registry();
  const types = new Map<number, ReturnType<typeof avroType>>();
  const topicOf = (view: string) => {
    const object = follower.state.objects[`feature_view/${view}`];
    return topicNames.features(project, object!.definition as FeatureViewDefinition);
  };
  return {
    project,
    repoDir,
    runtime,
    follower,
    applier,
    store: () => runtime.onlineStore(),
    apply: async (definitions) => {
      await applier.apply(definitions, { prune: true });
    },
    topic: topicOf,
    produce: async (view, rows, log = runtime.log, headers) => {
      const topic = topicOf(view);
      const latest = await runtime.schemas.latestVersion(valueSubject(topic));
      let type = types.get(latest!.id);
      if (type === undefined) {
        type = avroType(latest!.schema);
        types.set(latest!.id, type);
      }
      const definition = follower.state.objects[`feature_view/${view}`]!.definition as FeatureViewDefinition;
      const joinKeys = definition.entities.flatMap(
        (name) => (follower.state.objects[`entity/${name}`]!.definition as EntityDefinition).joinKeys,
      );
      return log.append(
        topic,
        rows.map((row) => ({
          key: Buffer.from(encodeEntityKey(joinKeys, row)),
          value: encodeRow(latest!.id, type, row),
          ...(headers === undefined ? {} : { headers }),
        })),
      );
    },
    close: async () => {
      await runtime.close();
      await rm(repoDir, { recursive: true, force: true });
    },
  };
}

export interface RunningMaterializer {
  materializer: Materializer;
  /** Its metrics. */
  registry: Registry;
  /** Stops the materializer, then its registry follower. */
  stop(): Promise<void>;
}

/**
 * A Materializer in this process on the test's log and schemas, with a registry follower of its own (as
 * in its own process, consumer `registryGroup`), on the project's store unless `store` is given, its
 * metrics in `registry`, silent unless `logger` is given.
 */
export async function startMaterializer(
  test: TestProject,
  {
    registry = new Registry(),
    registryGroup = `${test.project}.materializer.registry`,
    store,
    logger = SILENT_LOGGER,
    ...tuning
  }: {
    registry?: Registry;
    registryGroup?: string;
    store?: OnlineStore;
    logger?: FeaturelogLogger;
  } & Pick<MaterializerOptions, 'wipeCheckIntervalMs' | 'registryPollMs'> = {},
): Promise<RunningMaterializer> {
  const { follower } = test.runtime.registry();
  await follower.start(registryGroup);
  const materializer = new Materializer({
    project: test.project,
    log: test.runtime.log,
    schemas: test.runtime.schemas,
    store: store ?? (await test.store()),
    follower,
    metrics: new MaterializerMetrics(registry),
    logger,
    ...tuning,
  });
  await materializer.start();
  return {
    materializer,
    registry,
    stop: async () => {
      await materializer.stop();
      await follower.stop();
    },
  };
}

export interface FoldedValue {
  version: RowVersion;
  features: Record<string, FeatureValue>;
}

/**
 * The oracle: reads a view's topic from the start, independently of the materializer, and keeps per
 * entity the row with the greatest (event_timestamp, created_timestamp, log position). Records that do
 * not decode are skipped, as the materializer dead-letters them.
 */
export async function foldTopic(test: TestProject, viewName: string): Promise<Map<string, FoldedValue>> {
  const { view, joinKeys, rows } = await readRows(test, viewName);
  const folded = new Map<string, FoldedValue>();
  for (const { position, row, to } of rows) {
    // Pushed for the offline store only: never online.
    if (to === 'offline') continue;
    const version: RowVersion = {
      eventTimestamp: row.event_timestamp as number,
      createdTimestamp: (row.created_timestamp as number | null) ?? null,
      position,
    };
    const key = encodeEntityKey(joinKeys, row);
    const current = folded.get(key);
    if (current !== undefined && compareRowVersions(version, current.version) <= 0) continue;
    folded.set(key, {
      version,
      features: Object.fromEntries(view.features.map((feature) => [feature.name, row[feature.name] ?? null])),
    });
  }
  return folded;
}

/**
 * Waits until the store (the project's, or `store`) holds exactly the oracle's fold of the view's log
 * (read again at each try), the fold not empty, and returns that fold. With `entities`, the fold must
 * also hold that many entities.
 */
export async function waitForStoreToEqualFold(
  test: TestProject,
  {
    view = 'driver_stats',
    entities,
    store: given,
    description = `the store to equal the fold of ${view}'s log`,
    ...wait
  }: { view?: string; entities?: number; store?: OnlineStore } & WaitOptions = {},
): Promise<Map<string, FoldedValue>> {
  const store = given ?? (await test.store());
  return waitFor(
    async () => {
      const folded = await foldTopic(test, view);
      if (entities !== undefined) assert.equal(folded.size, entities);
      assert.deepEqual(await storedValues(store, test.project, view, folded.keys()), folded);
      return folded.size > 0 && folded;
    },
    { description, ...wait },
  );
}

/** Every decodable row of a view's topic with its position, read from the start without a group. */
export async function readRows(
  test: TestProject,
  viewName: string,
): Promise<{
  view: FeatureViewDefinition;
  joinKeys: JoinKey[];
  /** `to`: the push destination the row's header names (online_and_offline without one). */
  rows: Array<{ position: RecordPosition; row: FeatureRow; to: PushDestination }>;
}> {
  const { runtime, follower, project } = test;
  await follower.catchUp();
  const view = follower.state.objects[`feature_view/${viewName}`]!.definition as FeatureViewDefinition;
  const entities = view.entities.map(
    (name) => follower.state.objects[`entity/${name}`]!.definition as EntityDefinition,
  );
  const joinKeys = entities.flatMap((entity) => entity.joinKeys);
  const reader = readerSchema(rowSchemaFor(view, entities, project));
  const decoder = new RowDecoder(runtime.schemas);
  const topic = topicNames.features(project, view);
  const rows: Array<{ position: RecordPosition; row: FeatureRow; to: PushDestination }> = [];
  for (const [partition, end] of await runtime.log.endOffsets(topic)) {
    if (end === 0) continue;
    for await (const records of runtime.log.read(topic, partition, 0, { untilOffset: end })) {
      for (const record of records) {
        try {
          rows.push({
            position: { partition, offset: record.offset },
            row: await decoder.decode(record.value!, reader),
            to: pushDestinationOf(record.headers[PUSH_TO_HEADER]),
          });
        } catch {
          // Poison: the materializer dead-letters it, so the oracle skips it.
        }
      }
    }
  }
  return { view, joinKeys, rows };
}

/**
 * The materializer's whole checkpoint at the end of the view's topic, as a store of an old layout may
 * hold it: trusted, it would make a new materializer consume nothing, so a rebuild must drop it.
 */
export async function wholeCheckpointAtEnd(
  test: TestProject,
  view: string,
): Promise<{ consumer: string; offsets: Array<{ topic: string; partition: number; offset: number }> }> {
  const ends = await test.runtime.log.endOffsets(test.topic(view));
  return {
    consumer: `${test.project}.materializer`,
    offsets: [
      { topic: CHECKPOINT_MARKER_TOPIC, partition: 0, offset: 1 },
      ...[...ends].map(([partition, end]) => ({ topic: test.topic(view), partition, offset: end })),
    ],
  };
}

/** What the store holds for these entities of one view, in the oracle's shape (absent ones left out). */
export async function storedValues(
  store: OnlineStore,
  project: string,
  view: string,
  entityKeys: Iterable<string>,
): Promise<Map<string, FoldedValue>> {
  const keys = [...entityKeys];
  const values = new Map<string, FoldedValue>();
  for (let start = 0; start < keys.length; start += 500) {
    const slice = keys.slice(start, start + 500);
    const read = await store.read(
      project,
      slice.map((entityKey) => ({ entityKey, views: [view] })),
    );
    slice.forEach((key, i) => {
      const value = read[i]?.[0];
      if (value) values.set(key, value);
    });
  }
  return values;
}

/** The materializer app as its own process, on the test's featurelog.yaml. */
export class MaterializerProcess extends AppProcess {
  constructor(
    repoDir: string,
    /** Its consumer group for each launch; absent: the materializer's default (shared by every process). */
    groupId?: () => string,
  ) {
    super('materializer', () => ({
      FEATURELOG_REPO: repoDir,
      FEATURELOG_MATERIALIZER_PORT: '0',
      ...(groupId === undefined ? {} : { FEATURELOG_MATERIALIZER_GROUP_ID: groupId() }),
    }));
  }

  /** Its /metrics text. */
  async metrics(): Promise<string> {
    // Bounded: a frozen process (pause) never answers.
    const response = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return await response.text();
  }
}
