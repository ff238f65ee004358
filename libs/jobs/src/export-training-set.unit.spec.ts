import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalSchemaRegistry } from '@featurelog/avro';
import { FileEventLog } from '@featurelog/log';
import { HyparquetSegmentCodec } from '@featurelog/offline-store';
import { exportTrainingSet, JOB_CANCELLED, type ExportRequest, type HistorySources } from '@featurelog/jobs';
import { CUSTOMER_PROFILE, DRIVER_DAILY, TEST_DEFINITIONS } from './jobs.test-kit';
import {
  buildPitScenario,
  readParquet,
  REQUESTED,
  REQUESTED_FEATURES,
  type PitScenario,
} from './pit-scenario.test-kit';

const PROJECT = 'pit';

describe('exportTrainingSet against a brute-force oracle (embedded log, segments + log tail)', () => {
  let dir: string;
  let log: FileEventLog;
  let schemas: LocalSchemaRegistry;
  let sources: HistorySources;
  let scenario: PitScenario;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-export-'));
    log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
    schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
    const codec = new HyparquetSegmentCodec();
    sources = { log, schemas, codec, offlineRoot: join(dir, 'offline'), project: PROJECT };
    scenario = await buildPitScenario({ log, schemas, codec, offlineRoot: sources.offlineRoot, project: PROJECT });
  });

  after(async () => {
    await log.close();
    await schemas.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Segments joined in this thread (workers: 0) and in worker threads.
  for (const { format, asServed, workers } of [
    { format: 'csv', asServed: false, workers: 0 },
    { format: 'parquet', asServed: false, workers: 2 },
    { format: 'csv', asServed: true, workers: 2 },
    { format: 'parquet', asServed: true, workers: 0 },
  ] as const) {
    it(`matches the oracle for every entity row (${format} entities${asServed ? ', as served' : ''}, ${workers} workers), in the original order`, async () => {
      const entitiesPath = join(dir, `entities-${format}-${asServed}.${format}`);
      if (format === 'csv') scenario.writeCsv(entitiesPath);
      else scenario.writeEntityParquet(entitiesPath);
      const output = join(dir, `out-${format}-${asServed}.parquet`);
      const request: ExportRequest = {
        entities: entitiesPath,
        features: REQUESTED_FEATURES,
        output,
        asServed,
      };
      // Tiny in-memory bounds: many frames of entity rows, each joined against many sorted tail slices.
      const result = await exportTrainingSet(sources, TEST_DEFINITIONS, request, {
        entityRowsInMemory: 37,
        tailRowsInMemory: 11,
        rowGroupSize: 5,
        workers,
      });
      assert.ok(result.entityFrames > 1, 'the entity rows were joined in frames');
      assert.ok(result.segmentRows > 0 && result.tailRows > 0, 'history came from segments and the log tail');
      assert.equal(result.rows, scenario.entities.length);

      const rows = await readParquet(output);
      assert.equal(rows.length, scenario.entities.length);
      const want = scenario.expected(asServed, false, REQUESTED);
      const columns =
        format === 'csv'
          ? ['label', 'driver_id', 'event_timestamp', 'customer_id']
          : ['driver_id', 'customer_id', 'event_timestamp', 'label'];
      assert.deepEqual(Object.keys(rows[0]!), [
        ...columns,
        'conv_rate',
        'trips',
        'note',
        'score',
        'tags',
        'spend',
        'since',
      ]);
      let matched = 0;
      rows.forEach((row, i) => {
        const entity = scenario.entities[i]!;
        assert.deepEqual(
          { label: row.label, driver_id: row.driver_id, customer_id: row.customer_id, t: row.event_timestamp },
          { label: entity.label, driver_id: entity.driver_id, customer_id: entity.customer_id, t: entity.t },
          `row ${i} kept its place and its columns`,
        );
        const features = Object.fromEntries(Object.keys(want[i]!).map((name) => [name, row[name]]));
        assert.deepEqual(
          features,
          want[i],
          `row ${i}: driver ${entity.driver_id}, customer ${entity.customer_id}, t ${entity.t}`,
        );
        if (Object.values(want[i]!).some((value) => value !== null)) matched += 1;
      });
      assert.ok(matched > scenario.entities.length / 4, `the data exercises matches (${matched} rows with a value)`);
    });
  }

  it('reports its stages in order: planning, verifying segments, joining each view, reading and writing frames', async () => {
    const entities = join(dir, 'entities-progress.csv');
    scenario.writeCsv(entities);
    const phases: string[] = [];
    const last: { done?: number; total?: number } = {};
    const result = await exportTrainingSet(
      sources,
      TEST_DEFINITIONS,
      { entities, features: REQUESTED_FEATURES, output: join(dir, 'out-progress.parquet') },
      {
        entityRowsInMemory: 200,
        workers: 0,
        onProgress: ({ phase, done, total }) => {
          if (phases.at(-1) !== phase) phases.push(phase);
          Object.assign(last, { done, total });
        },
      },
    );
    const joining = ['joining driver_stats', 'joining driver_daily', 'joining customer_profile'];
    const verifying = joining.map((phase) => phase.replace('joining', 'verifying segments of'));
    // Per frame: each view joined (its log tail read within), the frame written, the next frame read.
    const frames = Math.ceil(scenario.entities.length / 200);
    const perFrame = [...joining, 'writing', 'reading entity rows'];
    assert.deepEqual(
      phases
        .filter((phase) => !phase.startsWith('reading the log tail'))
        .filter((phase, i, kept) => kept[i - 1] !== phase),
      ['planning', ...verifying, ...Array.from({ length: frames }, () => perFrame).flat(), 'writing'],
    );
    assert.equal(result.entityFrames, frames);
    assert.deepEqual(last, { done: scenario.entities.length, total: scenario.entities.length });
  });

  // A cancel takes effect within a stage; the temporary output is removed, nothing is renamed into place.
  for (const [stage, workers] of [
    ['verifying segments of driver_daily', 0],
    ['joining driver_daily', 2],
    ['writing', 0],
    ['writing', 2],
  ] as const) {
    it(`cancelled while ${stage} (${workers} workers), fails with ${JOB_CANCELLED} and leaves no file behind`, async () => {
      const entities = join(dir, `entities-cancel.csv`);
      scenario.writeCsv(entities);
      const outputDir = mkdtempSync(join(dir, 'cancel-'));
      const controller = new AbortController();
      await assert.rejects(
        exportTrainingSet(
          sources,
          TEST_DEFINITIONS,
          { entities, features: REQUESTED_FEATURES, output: join(outputDir, 'out.parquet') },
          {
            entityRowsInMemory: 37,
            rowGroupSize: 5,
            workers,
            signal: controller.signal,
            onProgress: ({ phase, done }) => phase === stage && done > 0 && controller.abort(),
          },
        ),
        { code: JOB_CANCELLED },
      );
      assert.ok(controller.signal.aborted, `the export reached ${stage}`);
      assert.deepEqual(readdirSync(outputDir), []);
    });
  }

  it('keeps entity rows without a join key, with null features, even a whole frame of them', async () => {
    const entities = join(dir, 'entities-keyless.csv');
    const t = '2025-01-02T00:00:00';
    writeFileSync(entities, `driver_id,customer_id,event_timestamp\n,,${t}\n,,${t}\n0,,${t}\n`);
    const output = join(dir, 'out-keyless.parquet');
    const features = ['driver_stats:trips', 'customer_profile:spend'];
    for (const workers of [0, 2]) {
      await exportTrainingSet(
        sources,
        TEST_DEFINITIONS,
        { entities, features, output },
        { entityRowsInMemory: 1, workers },
      );
      const rows = await readParquet(output);
      assert.deepEqual(
        rows.slice(0, 2).map((row) => [row.trips, row.spend]),
        [
          [null, null],
          [null, null],
        ],
      );
      assert.equal(rows.length, 3);
    }
  });

  it('names columns view__feature with full feature names, so equal feature names can be exported together', async () => {
    const entitiesPath = join(dir, 'entities-full.csv');
    scenario.writeCsv(entitiesPath);
    const output = join(dir, 'out-full.parquet');
    await exportTrainingSet(sources, TEST_DEFINITIONS, {
      entities: entitiesPath,
      features: ['driver_daily:score', 'customer_profile:score'],
      output,
      fullFeatureNames: true,
    });
    const rows = await readParquet(output);
    const want = scenario.expected(false, true, [
      [DRIVER_DAILY, ['score']],
      [CUSTOMER_PROFILE, ['score']],
    ]);
    assert.deepEqual(
      rows.map((row) => ({
        driver_daily__score: row.driver_daily__score,
        customer_profile__score: row.customer_profile__score,
      })),
      want,
    );
  });
});
