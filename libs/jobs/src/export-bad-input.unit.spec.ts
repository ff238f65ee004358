import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import {
  FeaturelogError,
  foldRegistry,
  type FeatureValue,
  type RegistryChange,
  type TaggedDefinition,
} from '@featurelog/domain';
import { LocalSchemaRegistry } from '@featurelog/avro';
import { FileEventLog, type EventLog } from '@featurelog/log';
import { HyparquetSegmentCodec, type SegmentWritten } from '@featurelog/offline-store';
import { exportTrainingSet, type ExportRequest, type HistorySources } from '@featurelog/jobs';
import {
  appendFeatureRows,
  compactPrefix,
  DRIVER,
  DRIVER_STATS,
  provisionTestProject,
  TEST_DEFINITIONS,
  type ProvisionedView,
} from './jobs.test-kit';

const PROJECT = 'bad';
const HOUR = 3600 * 1_000_000;
const T0 = Date.UTC(2025, 0, 1) * 1000;

function rejectsWith(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof FeaturelogError, `expected a FeaturelogError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('export: bad input fails with a clear error before any replay', () => {
  let dir: string;
  let log: FileEventLog;
  let schemas: LocalSchemaRegistry;
  let sources: HistorySources;
  let views: Map<string, ProvisionedView>;
  let segments: SegmentWritten[];
  let featureReads: number;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-bad-'));
    log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
    schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
    views = await provisionTestProject(log, schemas, PROJECT);
    const rows: Record<string, FeatureValue>[] = [1, 2, 3, 4].map((driver) => ({
      driver_id: driver,
      event_timestamp: T0 + driver * HOUR,
      created_timestamp: null,
      conv_rate: driver / 10,
      trips: driver,
      note: null,
    }));
    await appendFeatureRows(log, views.get('driver_stats')!, rows);
    const codec = new HyparquetSegmentCodec();
    const root = join(dir, 'offline');
    segments = (await compactPrefix(
      log,
      schemas,
      codec,
      root,
      PROJECT,
      DRIVER_STATS,
      await log.endOffsets(views.get('driver_stats')!.topic),
    )) as SegmentWritten[];
    featureReads = 0;
    const counting: EventLog = Object.create(log) as EventLog;
    counting.read = (topic, partition, from, options) => {
      if (topic.includes('.features.')) featureReads += 1;
      return log.read(topic, partition, from, options);
    };
    sources = { log: counting, schemas, codec, offlineRoot: root, project: PROJECT };
  });

  afterEach(async () => {
    await log.close();
    await schemas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const entityCsv = (text: string) => {
    const path = join(dir, 'entities.csv');
    writeFileSync(path, text);
    return path;
  };
  const request = (entities: string, extra: Partial<ExportRequest> = {}): ExportRequest => ({
    entities,
    features: ['driver_stats:conv_rate'],
    output: join(dir, 'out.parquet'),
    ...extra,
  });
  const noOutput = () =>
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.includes('out.parquet')),
      [],
      'no output (not even a temporary file) is left',
    );

  const cases: Array<[string, () => ExportRequest, string, RegExp]> = [
    [
      'an entity file without event_timestamp',
      () => request(entityCsv('driver_id,ts\n1,2025-01-01T00:00:00\n')),
      'ENTITY_TIMESTAMP_MISSING',
      /no "event_timestamp" column \(columns: driver_id, ts\)/,
    ],
    [
      'an entity file without a join key',
      () => request(entityCsv('driver,event_timestamp\n1,2025-01-01T00:00:00\n')),
      'ENTITY_JOIN_KEY_MISSING',
      /no column "driver_id", the join key of view "driver_stats"/,
    ],
    [
      'an unparseable timestamp, naming the row',
      () => request(entityCsv('driver_id,event_timestamp\n1,2025-01-01T00:00:00\n2,2025-01-01\n3,yesterday\n')),
      'ENTITY_TIMESTAMP_INVALID',
      /row 3: "event_timestamp" "yesterday" is not a timestamp/,
    ],
    [
      'an impossible date',
      () => request(entityCsv('driver_id,event_timestamp\n1,2025-02-30T00:00:00\n')),
      'ENTITY_TIMESTAMP_INVALID',
      /row 1/,
    ],
    [
      'an empty timestamp',
      () => request(entityCsv('driver_id,event_timestamp\n1,\n')),
      'ENTITY_TIMESTAMP_INVALID',
      /row 1: "event_timestamp" is empty/,
    ],
    [
      'a join key that is not of its type',
      () => request(entityCsv('driver_id,event_timestamp\n1,2025-01-01\nabc,2025-01-01\n')),
      'ENTITY_JOIN_KEY_INVALID',
      /row 2: join key "driver_id" is int64, but the row holds "abc"/,
    ],
    [
      'an unknown feature',
      () => request(entityCsv('driver_id,event_timestamp\n'), { features: ['driver_stats:nope'] }),
      'UNKNOWN_FEATURE',
      /feature view "driver_stats" has no feature "nope"/,
    ],
    [
      'an unknown view',
      () => request(entityCsv('driver_id,event_timestamp\n'), { features: ['nope:x'] }),
      'UNKNOWN_FEATURE_VIEW',
      /"nope"/,
    ],
    [
      'an unknown feature service',
      () => request(entityCsv('driver_id,event_timestamp\n'), { features: undefined, service: 'nope' }),
      'UNKNOWN_FEATURE_SERVICE',
      /"nope"/,
    ],
    [
      'a view without offline history',
      () => request(entityCsv('driver_id,event_timestamp\n'), { features: ['online_only:live'] }),
      'VIEW_NOT_OFFLINE',
      /"online_only" keeps no offline history/,
    ],
    [
      'two features that would share a column without full names',
      () =>
        request(entityCsv('driver_id,customer_id,event_timestamp\n'), {
          features: ['driver_daily:score', 'customer_profile:score'],
        }),
      'FEATURE_NAME_COLLISION',
      /feature customer_profile:score and feature driver_daily:score would both be column "score"; use full feature names/,
    ],
    [
      'a feature named like an entity column',
      () => request(entityCsv('driver_id,event_timestamp,trips\n'), { features: ['driver_stats:trips'] }),
      'FEATURE_NAME_COLLISION',
      /entity file column "trips"/,
    ],
    [
      'neither features nor a service',
      () => request(entityCsv('driver_id,event_timestamp\n'), { features: [] }),
      'EXPORT_FEATURES_INVALID',
      /exactly one of/,
    ],
    ['a missing entity file', () => request(join(dir, 'absent.csv')), 'ENTITY_FILE_NOT_FOUND', /absent\.csv/],
    [
      'an output named for another format',
      () => request(entityCsv('driver_id,event_timestamp\n1,2025-01-01\n'), { output: join(dir, 'out.parquet.csv') }),
      'EXPORT_OUTPUT_FORMAT_UNSUPPORTED',
      /out\.parquet\.csv: exports are written as Parquet only \(supported: \.parquet\), not \.csv/,
    ],
  ];
  for (const [what, make, code, pattern] of cases) {
    it(`refuses ${what} (${code})`, async () => {
      await assert.rejects(exportTrainingSet(sources, TEST_DEFINITIONS, make()), rejectsWith(code, pattern));
      assert.equal(featureReads, 0, 'no history was replayed');
      noOutput();
    });
  }

  const overExistingTopic = (source: string): TaggedDefinition[] => [
    ...TEST_DEFINITIONS,
    {
      kind: 'feature_view',
      definition: { ...DRIVER_STATS, name: 'rides', source },
    },
    {
      kind: 'data_source',
      definition: { name: 'rides_topic', kind: 'kafka', topic: 'backend.rides', timestampField: 'ts' },
    },
  ];
  it('refuses a view whose data source is not defined (UNKNOWN_DATA_SOURCE)', async () => {
    await assert.rejects(
      exportTrainingSet(
        sources,
        overExistingTopic('nope'),
        request(entityCsv('driver_id,event_timestamp\n'), {
          features: ['rides:trips'],
        }),
      ),
      rejectsWith('UNKNOWN_DATA_SOURCE', /feature view "rides" reads data source "nope", which is not defined/),
    );
    noOutput();
  });

  it('refuses a view over an existing topic that does not exist (SOURCE_TOPIC_MISSING)', async () => {
    await assert.rejects(
      exportTrainingSet(
        sources,
        overExistingTopic('rides_topic'),
        request(entityCsv('driver_id,event_timestamp\n1,2025-01-01\n'), { features: ['rides:trips'] }),
      ),
      rejectsWith(
        'SOURCE_TOPIC_MISSING',
        /feature view "rides" reads topic backend\.rides \(data source "rides_topic"\), which does not exist/,
      ),
    );
    noOutput();
  });

  it('refuses a view that read another topic under the same version (VIEW_TOPIC_CHANGED), not a new version', async () => {
    const rides = { ...DRIVER_STATS, name: 'rides' };
    const changesets: RegistryChange[][] = [
      [
        { op: 'upsert', kind: 'entity', name: 'driver', definition: DRIVER },
        {
          op: 'upsert',
          kind: 'data_source',
          name: 'rides_topic',
          definition: { name: 'rides_topic', kind: 'kafka', topic: 'backend.rides', timestampField: 'ts' },
        },
        { op: 'upsert', kind: 'feature_view', name: 'rides', definition: rides },
      ],
      // Same version, now over the existing topic: its segments may hold offsets of either topic.
      [{ op: 'upsert', kind: 'feature_view', name: 'rides', definition: { ...rides, source: 'rides_topic' } }],
    ];
    const fold = (sets: RegistryChange[][]) =>
      foldRegistry(
        sets.map((changes, offset) => ({
          offset,
          changeset: { applyId: `a${offset}`, basedOnVersion: offset, appliedAt: offset, changes },
        })),
      );
    const exportRides = (state: ReturnType<typeof fold>) =>
      exportTrainingSet(
        sources,
        state,
        request(entityCsv('driver_id,event_timestamp\n1,2025-01-01\n'), { features: ['rides:trips'] }),
      );
    await assert.rejects(
      exportRides(fold(changesets)),
      rejectsWith(
        'VIEW_TOPIC_CHANGED',
        /feature view "rides" \(version 1\) has read bad\.features\.rides, backend\.rides over its history/,
      ),
    );
    // As a new version it has a history of its own (and is then refused only because the topic is absent here).
    const v2 = [
      ...changesets,
      [
        {
          op: 'upsert',
          kind: 'feature_view',
          name: 'rides',
          definition: { ...rides, version: 2, source: 'rides_topic' },
        } as RegistryChange,
      ],
    ];
    await assert.rejects(exportRides(fold(v2)), rejectsWith('SOURCE_TOPIC_MISSING'));
    noOutput();
  });

  it('fails on a corrupt segment file, naming its path, and writes nothing', async () => {
    const path = join(dir, 'offline', segments[0]!.path);
    const bytes = readFileSync(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(path, bytes);
    await assert.rejects(
      exportTrainingSet(sources, TEST_DEFINITIONS, request(entityCsv('driver_id,event_timestamp\n1,2025-01-02\n'))),
      rejectsWith('SEGMENT_CORRUPT', new RegExp(`${path.replace(/[.]/g, '\\.')} has checksum`)),
    );
    noOutput();
  });

  it('fails on a missing segment file, naming its path', async () => {
    const path = join(dir, 'offline', segments[1]!.path);
    unlinkSync(path);
    await assert.rejects(
      exportTrainingSet(sources, TEST_DEFINITIONS, request(entityCsv('driver_id,event_timestamp\n1,2025-01-02\n'))),
      rejectsWith('SEGMENT_MISSING', new RegExp(`${path.replace(/[.]/g, '\\.')} does not exist`)),
    );
    noOutput();
  });

  it('is consistent with the watermark it captured: rows appended while it runs are not in it', async () => {
    // Appended right after the export captured the topic's high watermark; it would win for driver 1.
    let appended = false;
    const racing: EventLog = Object.create(sources.log) as EventLog;
    racing.endOffsets = async (topic) => {
      const ends = await log.endOffsets(topic);
      if (topic === views.get('driver_stats')!.topic && !appended) {
        appended = true;
        await appendFeatureRows(log, views.get('driver_stats')!, [
          { driver_id: 1, event_timestamp: T0 + 20 * HOUR, created_timestamp: null, trips: 999 },
        ]);
      }
      return ends;
    };
    const read = async (name: string) => {
      const bytes = readFileSync(join(dir, name));
      const rows = await parquetReadObjects({
        file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
      });
      return rows.map((row) => row.trips as bigint | null);
    };
    const entities = entityCsv('driver_id,event_timestamp\n1,2025-01-01T20:30:00\n2,2025-01-01T02:00:00\n');
    const features = ['driver_stats:trips'];
    await exportTrainingSet({ ...sources, log: racing }, TEST_DEFINITIONS, request(entities, { features }));
    assert.ok(appended);
    // Driver 1's only row before the watermark (01:00) is outside the one-hour TTL; driver 2's is exactly at t.
    assert.deepEqual(await read('out.parquet'), [null, 2n]);
    await exportTrainingSet(
      sources,
      TEST_DEFINITIONS,
      request(entities, { features, output: join(dir, 'again.parquet') }),
    );
    assert.deepEqual(await read('again.parquet'), [999n, 2n], 'the next export sees the row appended since');
  });
});
