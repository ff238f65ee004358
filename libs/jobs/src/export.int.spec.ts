import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeEntityKey, type FeatureValue } from '@featurelog/domain';
import { ConfluentSchemaRegistry } from '@featurelog/avro';
import { KafkaEventLog } from '@featurelog/log';
import { HyparquetSegmentCodec } from '@featurelog/offline-store';
import { RedisOnlineStore, type OnlineRow } from '@featurelog/online-store';
import { stackEnv, uniqueName } from '@featurelog/testing';
import {
  backfillView,
  createJobExecutor,
  followJob,
  JobWorker,
  submitJob,
  type HistorySources,
  type JobEvent,
} from '@featurelog/jobs';
import { DRIVER, DRIVER_STATS, TEST_DEFINITIONS } from './jobs.test-kit';
import {
  buildPitScenario,
  oracle,
  plain,
  readParquet,
  REQUESTED,
  REQUESTED_FEATURES,
  type PitScenario,
} from './pit-scenario.test-kit';

/** The project venv (tools/stack/install-system.sh), then FEATURELOG_PYTHON, then python3: the first with pyarrow. */
function pythonWithPyarrow(): string | undefined {
  const candidates = [resolve(__dirname, '../../../.venv/bin/python'), process.env.FEATURELOG_PYTHON, 'python3'];
  for (const python of candidates) {
    if (!python || (python.includes('/') && !existsSync(python))) continue;
    if (spawnSync(python, ['-c', 'import pyarrow'], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}

const PYARROW_READ = `
import json, sys, datetime
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
def value(v):
    if isinstance(v, datetime.datetime):
        delta = v - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds
    if isinstance(v, list):
        return [value(x) for x in v]
    return v
print(json.dumps({
    "schema": {field.name: str(field.type) for field in table.schema},
    "rows": [{k: value(v) for k, v in row.items()} for row in table.to_pylist()],
}))
`;

describe('export and backfill over Kafka, Apicurio and Redis (jobs submitted through <project>.jobs)', () => {
  const env = stackEnv();
  const project = uniqueName('jobsint').replace(/[^a-z0-9_]/g, '_');
  let dir: string;
  let log: KafkaEventLog;
  let schemas: ConfluentSchemaRegistry;
  let sources: HistorySources;
  let scenario: PitScenario;
  let store: RedisOnlineStore;
  let worker: JobWorker;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-jobs-int-'));
    log = await KafkaEventLog.connect({ brokers: env.kafkaBrokers, clientId: project });
    schemas = new ConfluentSchemaRegistry({ url: env.schemaRegistryUrl });
    store = await RedisOnlineStore.connect({ url: env.redisUrl });
    const codec = new HyparquetSegmentCodec();
    sources = { log, schemas, codec, offlineRoot: join(dir, 'offline'), project };
    scenario = await buildPitScenario({ log, schemas, codec, offlineRoot: sources.offlineRoot, project });
    worker = new JobWorker({
      log,
      project,
      progressIntervalMs: 0,
      execute: createJobExecutor({
        sources,
        definitions: async () => TEST_DEFINITIONS,
        onlineStore: async () => store,
        exportOptions: { entityRowsInMemory: 50, tailRowsInMemory: 20 },
      }),
    });
    await worker.start();
  });

  after(async () => {
    await worker?.stop();
    await store?.deleteView(project, DRIVER_STATS.name).catch(() => undefined);
    await store?.close();
    await schemas?.close();
    await log?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const asServed of [false, true]) {
    it(`export job matches the oracle${asServed ? ' (as served)' : ''}; pyarrow reads UTC timestamps and exact values`, async () => {
      const entities = join(dir, `entities-${asServed}.csv`);
      scenario.writeCsv(entities);
      const output = join(dir, `out-${asServed}.parquet`);
      const phases: string[] = [];
      const job = await submitJob(log, project, {
        kind: 'export',
        request: { entities, features: REQUESTED_FEATURES, output, asServed },
      });
      const result = (await followJob(log, project, job, {
        onEvent: (event: JobEvent) => {
          if (event.type === 'JobProgress' && phases.at(-1) !== event.phase) phases.push(event.phase);
        },
      })) as { rows: number; tailRows: number; segmentRows: number };
      assert.equal(result.rows, scenario.entities.length);
      assert.ok(result.tailRows > 0 && result.segmentRows > 0);
      assert.ok(phases.includes('reading entity rows') && phases.includes('writing'), phases.join(' → '));

      const want = scenario.expected(asServed, false, REQUESTED);
      const rows = await readParquet(output);
      rows.forEach((row, i) => {
        const features = Object.fromEntries(Object.keys(want[i]!).map((name) => [name, row[name]]));
        assert.deepEqual(features, want[i], `row ${i}`);
      });

      const python = pythonWithPyarrow();
      if (python === undefined) {
        assert.fail(
          'no python with pyarrow: run tools/stack/install-system.sh (creates .venv) or set FEATURELOG_PYTHON',
        );
      }
      const script = join(dir, 'read.py');
      writeFileSync(script, PYARROW_READ);
      const read = spawnSync(python, [script, output], { encoding: 'utf8', maxBuffer: 64 << 20 });
      assert.equal(read.status, 0, read.stderr);
      const { schema, rows: pyRows } = JSON.parse(read.stdout) as {
        schema: Record<string, string>;
        rows: Record<string, unknown>[];
      };
      assert.deepEqual(schema, {
        label: 'int64',
        driver_id: 'int64',
        event_timestamp: 'timestamp[us, tz=UTC]',
        customer_id: 'string',
        conv_rate: 'double',
        trips: 'int64',
        note: 'string',
        score: 'double',
        tags: 'list<element: string>',
        spend: 'double',
        since: 'timestamp[us, tz=UTC]',
      });
      assert.equal(pyRows.length, scenario.entities.length);
      pyRows.forEach((row, i) => {
        const entity = scenario.entities[i]!;
        assert.deepEqual(
          [row.label, row.driver_id, row.customer_id, row.event_timestamp],
          [entity.label, entity.driver_id, entity.customer_id, entity.t],
          `row ${i} (pyarrow)`,
        );
        const features = Object.fromEntries(Object.keys(want[i]!).map((name) => [name, row[name] ?? null]));
        assert.deepEqual(features, want[i], `row ${i} (pyarrow)`);
      });
    });
  }

  it('a failing export job reports its error code through the topic', async () => {
    const entities = join(dir, 'no-timestamp.csv');
    writeFileSync(entities, 'driver_id\n1\n');
    const job = await submitJob(log, project, {
      kind: 'export',
      request: { entities, features: ['driver_stats:trips'], output: join(dir, 'never.parquet') },
    });
    await assert.rejects(followJob(log, project, job), /ENTITY_TIMESTAMP_MISSING|no "event_timestamp" column/);
    assert.ok(!existsSync(join(dir, 'never.parquet')));
  });

  it('backfill into Redis while live ingestion writes newer rows: the newer rows are never overwritten', async () => {
    const drivers = [...new Set(scenario.history.get('driver_stats')!.map((row) => row.values.driver_id as number))];
    const key = (driver: number) => encodeEntityKey(DRIVER.joinKeys, { driver_id: driver });
    const future = Date.now() * 1000 + 3_600_000_000;
    const live = (driver: number): OnlineRow => ({
      project,
      entityKey: key(driver),
      view: 'driver_stats',
      version: { eventTimestamp: future, createdTimestamp: null, position: { partition: 0, offset: 1e12 } },
      features: { conv_rate: null, trips: -driver - 1, note: 'live' },
    });
    const [first, second, ...others] = drivers;
    await store.writeBatch({ rows: [live(first!)] });
    let liveWrite: Promise<number> | undefined;
    const result = await backfillView(
      sources,
      TEST_DEFINITIONS,
      store,
      { view: 'driver_stats' },
      {
        batchSize: 3,
        // The scenario rows are hours old: kept 2 x TTL after their event time, Redis would drop them at once.
        retentionTtlMultiple: 0,
        onProgress: ({ phase, done }) => {
          if (liveWrite === undefined && phase.startsWith('writing') && done > 0) {
            liveWrite = store.writeBatch({ rows: [live(second!)] });
          }
        },
      },
    );
    assert.equal(await liveWrite, 1);
    assert.ok(result.rowsRead > 0);
    const read = await store.read(
      project,
      drivers.map((driver) => ({ entityKey: key(driver), views: ['driver_stats'] })),
    );
    const trips = new Map(drivers.map((driver, i) => [driver, read[i]![0]?.features.trips ?? null]));
    assert.equal(trips.get(first!), -first! - 1);
    assert.equal(trips.get(second!), -second! - 1);
    const history = scenario.history.get('driver_stats')!;
    for (const driver of others) {
      const winner = oracle(
        history,
        { ...DRIVER_STATS, ttlSeconds: 0 },
        'driver_id',
        driver,
        Number.MAX_SAFE_INTEGER,
        false,
      );
      assert.equal(trips.get(driver), plain(winner?.values.trips ?? null) as FeatureValue, `driver ${driver}`);
    }
  });
});
