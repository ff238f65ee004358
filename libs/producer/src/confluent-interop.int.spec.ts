import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeEntityKey, encodeEntityKey, topicNames, valueSubject, type JoinKey } from '@featurelog/domain';
import { readerSchema, RowDecoder, rowSchemaFor, type FeatureRow } from '@featurelog/avro';
import { partitionForKey } from '@featurelog/log';
import { stackEnv, uniqueName } from '@featurelog/testing';
import { appliedProject, producerDefinitions, type AppliedProject } from './producer.test-kit';

const REPO = resolve(__dirname, '..', '..', '..');
const PYTHON = join(REPO, '.venv', 'bin', 'python');
const SCRIPT = join(__dirname, '..', 'test-fixtures', 'confluent_interop.py');
const JOIN_KEYS: JoinKey[] = [{ name: 'driver_id', type: 'int64' }];
const TIMESTAMP_FIELDS = 'event_timestamp,created_timestamp,last_trip_at';
const T0 = Date.UTC(2025, 5, 1, 12) * 1000;

/** Why the test cannot run here (no venv, or the Python packages of tools/python-requirements.txt missing). */
function pythonProblem(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (bash tools/stack/install-system.sh)`;
  const check = spawnSync(PYTHON, ['-W', 'ignore', '-c', 'import confluent_kafka.schema_registry.avro, fastavro'], {
    encoding: 'utf8',
  });
  return check.status === 0 ? undefined : `Python lacks confluent-kafka/fastavro: ${check.stderr}`;
}

function python(args: string[], input: string): Promise<string> {
  const env = stackEnv();
  return new Promise((done, fail) => {
    const child = execFile(
      PYTHON,
      [SCRIPT, ...args, '--brokers', env.kafkaBrokers.join(','), '--registry', env.schemaRegistryUrl],
      { timeout: 90_000, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => (error ? fail(new Error(`${error.message}\n${stderr}`)) : done(stdout)),
    );
    child.stdin!.end(input);
  });
}

/** Rows of every value type, as JSON carries them (bytes in base64), and as featurelog holds them. */
function rows(firstDriver: number): Array<{ json: Record<string, unknown>; row: FeatureRow }> {
  return Array.from({ length: 5 }, (_, i) => {
    const avatar = Uint8Array.from([i, 255 - i, 7]);
    const full = i % 2 === 0;
    const row: FeatureRow = {
      driver_id: firstDriver + i,
      event_timestamp: T0 + i * 1_000_001,
      created_timestamp: full ? T0 + i * 1_000_001 + 17 : null,
      conv_rate: full ? 0.1 * i : null,
      acc_rate: full ? 0.5 : null,
      avg_daily_trips: full ? 2 ** 53 - 1 - i : null,
      rating: full ? -i - 1 : null,
      active: full ? i % 4 === 0 : null,
      city: full ? `Zürich ${i}` : null,
      avatar: full ? avatar : null,
      last_trip_at: full ? T0 - i : null,
      recent_fares: full ? [1.5, i] : null,
    };
    const json = { ...row, avatar: full ? Buffer.from(avatar).toString('base64') : null };
    return { json, row };
  });
}

const comparable = (row: FeatureRow) => ({
  ...row,
  avatar: row.avatar instanceof Uint8Array ? [...row.avatar] : row.avatar,
});

describe(
  'Confluent Avro serde in Python and featurelog read each other on a view topic',
  { skip: pythonProblem() },
  () => {
    let project: AppliedProject;
    let topic: string;

    before(async () => {
      project = await appliedProject('kafka', producerDefinitions());
      topic = topicNames.features(project.project, { name: 'driver_stats', version: 1 });
    });
    after(() => project?.close());

    it("a record written by confluent_kafka's AvroSerializer decodes through RowDecoder to exactly the row", async () => {
      const written = rows(100);
      const lines = written.map(({ json, row }) =>
        JSON.stringify({ key: encodeEntityKey(JOIN_KEYS, row), value: json }),
      );
      const out = await python(
        ['produce', '--topic', topic, '--timestamp-fields', TIMESTAMP_FIELDS, '--bytes-fields', 'avatar'],
        lines.join('\n'),
      );
      assert.deepEqual(JSON.parse(out), { produced: written.length });

      const latest = await project.runtime.schemas.latestVersion(valueSubject(topic));
      const { view } = await project.producer.target('driver_stats');
      const reader = readerSchema(rowSchemaFor(view, [{ name: 'driver', joinKeys: JOIN_KEYS }], project.project));
      const decoder = new RowDecoder(project.runtime.schemas);
      const decoded = new Map<number, FeatureRow>();
      const partitions = await project.runtime.log.partitionCount(topic);
      for (const [partition, end] of await project.runtime.log.endOffsets(topic)) {
        if (end === 0) continue;
        for await (const records of project.runtime.log.read(topic, partition, 0, { untilOffset: end })) {
          for (const record of records) {
            assert.equal(
              record.value!.readUInt32BE(1),
              latest!.id,
              'the serializer used the subject’s latest schema id',
            );
            const row = await decoder.decode(record.value!, reader);
            assert.deepEqual(decodeEntityKey(JOIN_KEYS, record.key!.toString()), { driver_id: row.driver_id });
            // murmur2 on the entity key, as our producer does: one entity's rows share a partition whoever writes them.
            assert.equal(partition, partitionForKey(record.key!, partitions));
            decoded.set(row.driver_id as number, row);
          }
        }
      }
      assert.deepEqual(
        [...decoded.values()].sort((a, b) => (a.driver_id as number) - (b.driver_id as number)).map(comparable),
        written.map(({ row }) => comparable(row)),
      );
    });

    it("featurelog's records decode with confluent_kafka's AvroDeserializer to the same rows", async () => {
      const written = rows(200);
      await project.producer.produce(
        'driver_stats',
        written.map(({ row }) => row),
      );
      const out = await python(
        [
          'consume',
          '--topic',
          topic,
          '--count',
          String(written.length * 2),
          '--group',
          uniqueName('interop'),
          '--timestamp-fields',
          TIMESTAMP_FIELDS,
        ],
        '',
      );
      const consumed = out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { key: string; value: Record<string, unknown> })
        .filter(({ value }) => (value.driver_id as number) >= 200)
        .sort((a, b) => (a.value.driver_id as number) - (b.value.driver_id as number));
      assert.deepEqual(
        consumed.map(({ key }) => key),
        written.map(({ row }) => encodeEntityKey(JOIN_KEYS, row)),
      );
      assert.deepEqual(
        consumed.map(({ value }) => value),
        written.map(({ json }) => json),
      );
    });
  },
);
