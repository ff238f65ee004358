import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeEntityKey,
  foldRegistry,
  initialRegistryState,
  planChanges,
  planToChangeset,
  topicNames,
  valueSubject,
  type RegistryState,
} from '@featurelog/domain';
import { avroType, encodeRow, LocalSchemaRegistry, rowSchemaFor } from '@featurelog/avro';
import { DLQ_HEADERS, FileEventLog, type LogRecord } from '@featurelog/log';
import { uniqueName } from '@featurelog/testing';
import {
  DeadLetterQueue,
  decodeBody,
  matchesDeadLetterFilter,
  parseDeadLetterFilter,
  REDRIVE_HEADERS,
  type DeadLetter,
} from '@featurelog/jobs';
import { DRIVER, DRIVER_STATS } from './jobs.test-kit';

const HOUR_MICROS = 3_600_000_000;

describe('DeadLetterQueue over the embedded log and schema store', () => {
  let dir: string;
  let log: FileEventLog;
  let schemas: LocalSchemaRegistry;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'featurelog-dlq-'));
    log = await FileEventLog.open({ directory: join(dir, 'log'), fsync: 'never' });
    schemas = await LocalSchemaRegistry.open({ directory: join(dir, 'schemas') });
  });
  after(async () => {
    await schemas.close();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A project whose producer wrote a row with a schema id the schema registry does not know (its
   * schema was registered in a registry the consumers do not read, or lost with it), dead-lettered
   * by the materializer as it does (ConsumerRunner's headers); and a good row beside it.
   */
  async function projectWithPoison() {
    const project = uniqueName('p').replace(/-/g, '_');
    const topic = topicNames.features(project, DRIVER_STATS);
    const state: RegistryState = foldRegistry([
      {
        offset: 0,
        changeset: planToChangeset(
          planChanges(
            [
              { kind: 'entity', definition: DRIVER },
              { kind: 'feature_view', definition: DRIVER_STATS },
            ],
            initialRegistryState(),
          ),
          { applyId: 'a', appliedAt: 1 },
        ),
      },
    ]);
    const rowSchema = rowSchemaFor(DRIVER_STATS, [DRIVER], project);
    const goodId = await schemas.register(valueSubject(topic), rowSchema);
    // The producer's newer schema (one more nullable field): fine for the view, once the registry knows it.
    const producerSchema = {
      ...rowSchema,
      fields: [...rowSchema.fields, { name: 'source_app', type: ['null', 'string'], default: null }],
    };
    const unknownId = Math.max(goodId, ...(await allIds())) + 1;
    await log.ensureTopic({ name: topic, partitions: 3, config: {} });
    await log.ensureTopic({ name: topicNames.dlq(project), partitions: 1, config: {} });
    const row = { driver_id: 1001, event_timestamp: 5 * HOUR_MICROS, conv_rate: 0.5, trips: 3, note: 'hi' };
    const key = Buffer.from(encodeEntityKey(DRIVER.joinKeys, row));
    const [good, poison] = await log.append(topic, [
      { key, value: encodeRow(goodId, avroType(rowSchema), row), partition: 1 },
      {
        key,
        value: encodeRow(unknownId, avroType(producerSchema), { ...row, source_app: 'app' }),
        headers: { traceparent: 'trace-1' },
        partition: 1,
      },
    ]);
    const poisonRecord: LogRecord = {
      topic,
      partition: poison!.partition,
      offset: poison!.offset,
      key,
      value: encodeRow(unknownId, avroType(producerSchema), { ...row, source_app: 'app' }),
      headers: { traceparent: Buffer.from('trace-1') },
      timestamp: Date.now(),
    };
    await log.append(topicNames.dlq(project), [
      deadLetter(poisonRecord, 'SCHEMA_NOT_FOUND', `no schema with id ${unknownId}`),
    ]);
    const dlq = new DeadLetterQueue({ log, project, schemas, registry: async () => state });
    const restoreSchema = () => schemas.register(valueSubject(topic), producerSchema);
    return { project, topic, dlq, unknownId, good: good!, poison: poison!, key, restoreSchema };
  }

  async function allIds(): Promise<number[]> {
    const ids: number[] = [];
    for (const subject of await schemas.listSubjects()) ids.push((await schemas.latestVersion(subject))!.id);
    return ids;
  }

  async function topicRecords(topic: string): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    for (const [partition, end] of await log.endOffsets(topic)) {
      if (end === 0) continue;
      for await (const records of log.read(topic, partition, 0, { untilOffset: end })) out.push(...records);
    }
    return out;
  }

  it('lists an entry with its view, error and source, and shows its decoded headers and why it fails', async () => {
    const { dlq, topic, poison, unknownId, project } = await projectWithPoison();
    const page = await dlq.list({ view: 'driver_stats', reason: 'schema_not_found' });
    assert.equal(page.total, 1);
    const [entry] = page.items;
    assert.equal(entry!.id, `${project}.dlq/0/0`);
    assert.deepEqual(entry!.source, { topic, partition: poison.partition, offset: poison.offset });
    assert.equal(entry!.view, 'driver_stats');
    assert.equal(entry!.status, 'dead');
    assert.equal(entry!.headers.traceparent, 'trace-1');
    assert.equal(entry!.headers[DLQ_HEADERS.errorCode], 'SCHEMA_NOT_FOUND');
    assert.equal((await dlq.list({ view: 'other' })).total, 0);
    assert.equal((await dlq.list({ reason: 'AVRO_DECODE_FAILED' })).total, 0);
    assert.equal((await dlq.list({ until: entry!.deadLetteredAt - 1 })).total, 0);

    const shown = await dlq.show(entry!.position);
    assert.equal(shown.body?.schemaId, unknownId);
    assert.match(JSON.stringify(shown.body), new RegExp(`"undecodable":"no schema with id ${unknownId}`));
    assert.equal(shown.redriveCheck.ok, false);
    // The source position names it too.
    assert.equal((await dlq.show(entry!.source)).id, entry!.id);
    await assert.rejects(dlq.show({ topic, partition: 0, offset: 999 }), { code: 'DLQ_ENTRY_NOT_FOUND' });
  });

  it('counts a record that still fails as "fails again" and re-appends nothing; once the schema is back, re-appends it once', async () => {
    const { dlq, topic, key, restoreSchema, project } = await projectWithPoison();
    const before = (await topicRecords(topic)).length;

    const refused = await dlq.redrive({ filter: { view: 'driver_stats' } });
    assert.deepEqual([refused.matched, refused.reappended, refused.failsAgain], [1, 0, 1]);
    assert.equal(refused.entries[0]!.error?.code, 'SCHEMA_NOT_FOUND');
    assert.equal((await topicRecords(topic)).length, before, 'nothing re-appended');
    assert.equal((await dlq.list({ status: 'dead' })).total, 1, 'still dead, to redrive later');

    await restoreSchema();
    const shown = await dlq.show((await dlq.list()).items[0]!.position);
    assert.deepEqual(shown.redriveCheck, { ok: true });
    assert.ok(shown.body !== null && 'row' in shown.body);
    assert.equal(shown.body.row.source_app, 'app', 'the body as its writer wrote it');
    assert.equal(shown.body.row.conv_rate, 0.5);
    const dry = await dlq.redrive({ filter: { view: 'driver_stats' }, dryRun: true });
    assert.deepEqual([dry.reappended, dry.failsAgain, dry.entries[0]!.outcome], [1, 0, 'would-reappend']);
    assert.equal((await topicRecords(topic)).length, before, 'a dry run re-appends nothing');

    const redriven = await dlq.redrive({ filter: { reason: 'SCHEMA_NOT_FOUND' }, by: 'ana' });
    assert.deepEqual([redriven.reappended, redriven.failsAgain, redriven.alreadyRedriven], [1, 0, 0]);
    const records = await topicRecords(topic);
    assert.equal(records.length, before + 1);
    const copy = records.find((record) => record.headers[REDRIVE_HEADERS.from] !== undefined)!;
    assert.deepEqual(copy.key, key);
    assert.equal(copy.partition, 1, 'to the source partition');
    assert.equal(copy.headers[REDRIVE_HEADERS.from]!.toString(), `${project}.dlq/0/0`);
    assert.equal(copy.headers[REDRIVE_HEADERS.count]!.toString(), '1');
    assert.equal(copy.headers.traceparent!.toString(), 'trace-1', 'original headers kept');
    assert.equal(copy.headers[DLQ_HEADERS.errorCode], undefined, "the DLQ's headers are not");
    assert.deepEqual(redriven.entries[0]!.to, { topic, partition: 1, offset: copy.offset });

    const [entry] = (await dlq.list()).items;
    assert.equal(entry!.status, 'redriven');
    assert.equal(entry!.redrive?.by, 'ana');
    assert.deepEqual(entry!.redrive?.to, { topic, partition: 1, offset: copy.offset });

    const again = await dlq.redrive({ filter: { view: 'driver_stats' } });
    assert.deepEqual([again.reappended, again.alreadyRedriven], [0, 1]);
    assert.equal((await topicRecords(topic)).length, before + 1, 'never twice');
    assert.equal((await dlq.list()).total, 1, 'markers are not entries');
  });

  it('lets exactly one of two concurrent redrives re-append an entry', async () => {
    const { dlq, topic, restoreSchema } = await projectWithPoison();
    await restoreSchema();
    const before = (await topicRecords(topic)).length;
    const [a, b] = await Promise.all([
      dlq.redrive({ filter: { view: 'driver_stats' } }),
      dlq.redrive({ filter: { view: 'driver_stats' } }),
    ]);
    assert.equal(a.reappended + b.reappended, 1);
    assert.equal(a.alreadyRedriven + b.alreadyRedriven, 1);
    assert.equal((await topicRecords(topic)).length, before + 1);
  });

  it('refuses a redrive that names nothing, and bad filters, naming the field', async () => {
    const { dlq } = await projectWithPoison();
    await assert.rejects(dlq.redrive({}), { code: 'DLQ_REDRIVE_UNSCOPED' });
    assert.throws(() => parseDeadLetterFilter({ since: 'yesterday' }), /since "yesterday" is not a timestamp/);
    assert.throws(() => parseDeadLetterFilter({ status: 'gone' }), /status must be one of dead, redriving, redriven/);
    assert.throws(() => parseDeadLetterFilter({ since: '2025-02-01', until: '2025-01-01' }), /is after until/);
    await assert.rejects(dlq.list({}, { limit: 0 }), { code: 'DLQ_PAGE_INVALID' });
  });
});

describe('matchesDeadLetterFilter', () => {
  const entry = {
    view: 'driver_stats',
    error: { code: 'AVRO_DECODE_FAILED', reason: 'cannot decode Avro body written with schema id 7: truncated body' },
    deadLetteredAt: Date.parse('2025-01-02T00:00:00Z'),
    status: 'dead',
  } as DeadLetter;

  it('matches a view, an error code in any case or words of the reason, a time range and a status', () => {
    assert.ok(matchesDeadLetterFilter(entry, {}));
    assert.ok(matchesDeadLetterFilter(entry, { view: 'driver_stats', reason: 'avro_decode_failed' }));
    assert.ok(matchesDeadLetterFilter(entry, { reason: 'truncated' }));
    assert.ok(!matchesDeadLetterFilter(entry, { reason: 'SCHEMA_NOT_FOUND' }));
    assert.ok(!matchesDeadLetterFilter(entry, { view: 'other' }));
    const filter = parseDeadLetterFilter({ since: '2025-01-02', until: '2025-01-02T00:00:00Z' });
    assert.ok(matchesDeadLetterFilter(entry, filter), 'both bounds inclusive');
    assert.ok(!matchesDeadLetterFilter(entry, parseDeadLetterFilter({ since: '2025-01-02T00:00:01Z' })));
    assert.ok(!matchesDeadLetterFilter(entry, parseDeadLetterFilter({ until: '2025-01-01T23:59:59Z' })));
    assert.ok(!matchesDeadLetterFilter(entry, { status: 'redriven' }));
  });
});

/** As ConsumerRunner dead-letters a record. */
function deadLetter(record: LogRecord, code: string, reason: string) {
  return {
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [DLQ_HEADERS.errorCode]: code,
      [DLQ_HEADERS.errorReason]: reason,
      [DLQ_HEADERS.sourceTopic]: record.topic,
      [DLQ_HEADERS.sourcePartition]: String(record.partition),
      [DLQ_HEADERS.sourceOffset]: String(record.offset),
    },
  };
}

describe('decodeBody', () => {
  const schemas = {
    getSchema: async () => {
      throw new Error('a JSON body names no schema');
    },
  } as never;

  it('shows a JSON body (Kafka Connect, Debezium) as its text, and binary bytes as undecodable alone', async () => {
    const json = Buffer.from('{"schema":{"type":"struct","fields":[]},"payload":{"id":"é"}}');
    const shown = await decodeBody(json, schemas);
    assert.equal(shown !== null && 'text' in shown ? shown.text : undefined, json.toString('utf8'));
    assert.match(JSON.stringify(shown), /"undecodable":"[^"]*magic/);
    const binary = await decodeBody(Buffer.from([0xff, 0xfe, 1, 2, 3, 4, 5]), schemas);
    assert.equal(binary !== null && 'text' in binary, false);
  });
});
