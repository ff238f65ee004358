/**
 * Proof that the stack's change-data-capture parts are the real thing: the stack's PostgreSQL
 * (wal_level=logical), Debezium's PostgresConnector with pgoutput on the stack's Connect worker, and
 * Apicurio's Connect converter writing the Confluent wire format that featurelog's decoder and
 * confluent-kafka's AvroDeserializer both read. Fresh table, slot, publication, topic and connector
 * per run; connectors, slots and publications are removed afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { ConfluentSchemaRegistry, readerSchema, RowDecoder, decodeEnvelope } from '@featurelog/avro';
import { stackEnv, stackPostgresEnv, uniqueName, waitFor } from '@featurelog/testing';
import { requirePostgres } from './preflight';
import { STACK_HOST } from './stack-env';

const env = stackEnv();
const pg = stackPostgresEnv();
const kafka = new Kafka({ clientId: 'cdc-proof', brokers: env.kafkaBrokers, logLevel: logLevel.ERROR });
const PYTHON = process.env.FEATURELOG_PYTHON ?? path.join(__dirname, '..', '..', '.venv', 'bin', 'python');
/** Apicurio's own API (the converter speaks it), beside the Confluent one featurelog reads. */
const APICURIO_API = env.schemaRegistryUrl.replace(/\/apis\/ccompat\/v7\/?$/, '/apis/registry/v2');

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
  return new Promise<string>((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { env: { ...process.env, ...options.env }, encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${path.basename(command)} failed: ${stderr || error.message}`)) : resolve(stdout),
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** SQL through psql as the stack's user; the password goes through the environment only. */
function sql(statement: string): Promise<string> {
  assert.ok(pg.password, 'no PostgreSQL password: is the stack up (secure/credentials.json)?');
  return run(
    path.join(requirePostgres(), 'psql'),
    [
      '-X',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      pg.host,
      '-p',
      String(pg.port),
      '-U',
      pg.user,
      '-d',
      pg.database,
    ].concat(['-c', statement]),
    { env: { PGPASSWORD: pg.password } },
  ).then((out) => out.trim());
}

async function connectRest(method: string, route: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${env.connectUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

interface Capture {
  name: string;
  table: string;
  topic: string;
  slot: string;
}

/** A table, a PostgresConnector on it (pgoutput, no snapshot) and its running task, then one insert, update and delete. */
async function captureChanges(label: string, converters: Record<string, string>): Promise<KafkaMessage[]> {
  // Avro record names are built from these: letters, digits and underscores only
  const id = uniqueName(label).replace(/-/g, '_');
  const capture: Capture = { name: id, table: `t_${id}`, topic: `${id}.public.t_${id}`, slot: id };
  captures.push(capture);
  await sql(
    `CREATE TABLE ${capture.table} (id integer PRIMARY KEY, name text, amount numeric(10,2), updated_at timestamptz)`,
  );
  const created = await connectRest('PUT', `/connectors/${capture.name}/config`, {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    'tasks.max': '1',
    'plugin.name': 'pgoutput',
    'database.hostname': STACK_HOST,
    'database.port': String(pg.port),
    'database.user': pg.user,
    'database.password': pg.password,
    'database.dbname': pg.database,
    'topic.prefix': id,
    'table.include.list': `public.${capture.table}`,
    'slot.name': capture.slot,
    'publication.name': `${id}_pub`,
    'publication.autocreate.mode': 'filtered',
    'snapshot.mode': 'no_data',
    'topic.creation.default.replication.factor': '1',
    'topic.creation.default.partitions': '1',
    ...converters,
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  // Rows are written only once the slot streams: before it exists they would not be captured at all.
  await waitFor(
    async () => (await sql(`SELECT active FROM pg_replication_slots WHERE slot_name = '${capture.slot}'`)) === 't',
    { timeoutMs: 90_000, intervalMs: 250, description: `replication slot ${capture.slot} active` },
  );
  await sql(`INSERT INTO ${capture.table} VALUES (1, 'plan-a', 12.50, '2026-01-02T03:04:05.678Z')`);
  await sql(`UPDATE ${capture.table} SET name = 'plan-b', amount = 7.25 WHERE id = 1`);
  await sql(`DELETE FROM ${capture.table} WHERE id = 1`);
  // insert, update, delete and the delete's tombstone
  return consume(capture.topic, 4);
}

async function consume(topic: string, count: number): Promise<KafkaMessage[]> {
  const messages: KafkaMessage[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('cdc-proof-group') });
  await consumer.connect();
  try {
    // the connector creates the topic with its first record
    await waitFor(
      async () => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          return (await admin.listTopics()).includes(topic);
        } finally {
          await admin.disconnect();
        }
      },
      { timeoutMs: 60_000, intervalMs: 250, description: `topic ${topic}` },
    );
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
    await waitFor(() => messages.length >= count, { timeoutMs: 60_000, description: `${count} records on ${topic}` });
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

const captures: Capture[] = [];

/** The schema with the named fields removed from every record in it. */
function withoutFields(schema: unknown, names: Set<string>): unknown {
  if (Array.isArray(schema)) return schema.map((branch) => withoutFields(branch, names));
  if (schema === null || typeof schema !== 'object') return schema;
  const node = schema as Record<string, unknown>;
  const copy: Record<string, unknown> = { ...node };
  if (node.type === 'record' && Array.isArray(node.fields)) {
    copy.fields = (node.fields as { name: string; type: unknown }[])
      .filter((field) => !names.has(field.name))
      .map((field) => ({ ...field, type: withoutFields(field.type, names) }));
  } else if (typeof node.type === 'object') {
    copy.type = withoutFields(node.type, names);
  }
  if (node.items !== undefined) copy.items = withoutFields(node.items, names);
  if (node.values !== undefined) copy.values = withoutFields(node.values, names);
  return copy;
}

interface Envelope {
  op: string;
  before: { id: number; name?: string | null } | null;
  after: { id: number; name: string | null } | null;
  source: { ts_ms: number; lsn: number | null; table: string };
}

/** What every run must show, whatever the converter: c, u, d with the rows, commit times and positions, then a tombstone. */
function assertChangeEvents(events: (Envelope | null)[], table: string): void {
  assert.equal(events.length, 4);
  const [insert, update, remove, tombstone] = events;
  assert.ok(insert && update && remove);
  assert.deepEqual([insert.op, update.op, remove.op], ['c', 'u', 'd']);
  assert.equal(insert.after?.name, 'plan-a');
  assert.equal(update.after?.name, 'plan-b');
  assert.equal(remove.after, null);
  assert.equal(remove.before?.id, 1);
  assert.equal(tombstone, null, 'a tombstone follows the delete');
  for (const event of [insert, update, remove]) {
    assert.equal(event.source.table, table);
    // the source's commit time, not the connector's: within the last ten minutes on this machine's clock
    assert.ok(Math.abs(Date.now() - Number(event.source.ts_ms)) < 600_000, `source.ts_ms ${event.source.ts_ms}`);
  }
  const lsns = [insert, update, remove].map((event) => Number(event.source.lsn));
  assert.ok(
    lsns.every((lsn) => lsn > 0),
    `source.lsn ${lsns.join(', ')}`,
  );
  assert.ok(lsns[0]! < lsns[1]! && lsns[1]! < lsns[2]!, `positions increase: ${lsns.join(' < ')}`);
}

describe('CDC stack: PostgreSQL → Debezium (pgoutput) → Connect → Kafka', () => {
  before(async () => {
    assert.equal(await sql('SHOW wal_level'), 'logical');
  });

  after(async () => {
    for (const capture of captures) {
      await connectRest('DELETE', `/connectors/${capture.name}`).catch(() => undefined);
    }
    for (const capture of captures) {
      // the task lets go of its slot shortly after the connector is deleted
      await waitFor(
        async () =>
          (await sql(`SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${capture.slot}' AND active`)) ===
          '0',
        { timeoutMs: 60_000, intervalMs: 250, description: `slot ${capture.slot} released` },
      ).catch(() => undefined);
      await sql(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${capture.slot}'`,
      ).catch(() => undefined);
      await sql(`DROP PUBLICATION IF EXISTS ${capture.name}_pub`).catch(() => undefined);
      await sql(`DROP TABLE IF EXISTS ${capture.table}`).catch(() => undefined);
    }
    const left = await sql(
      `SELECT count(*) FROM pg_replication_slots WHERE slot_name IN (${captures.map((c) => `'${c.slot}'`).join(',') || "''"})`,
    );
    assert.equal(left, '0', 'replication slots dropped');
  });

  it('JsonConverter: an insert, an update and a delete arrive as op c/u/d with source.ts_ms and source.lsn', async () => {
    const messages = await captureChanges('cdc_json', {
      'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable': 'false',
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable': 'true',
    });
    const events = messages.map((message) => {
      if (message.value === null) return null;
      const { schema, payload } = JSON.parse(message.value.toString('utf8')) as {
        schema: { name: string };
        payload: Envelope;
      };
      assert.match(schema.name, /\.Envelope$/, 'the schemas.enable envelope around the change event');
      return payload;
    });
    assertChangeEvents(events, captures.at(-1)!.table);
    assert.deepEqual(JSON.parse(messages[0]!.key!.toString('utf8')), { id: 1 });
  });

  it("Apicurio's AvroConverter writes the Confluent wire format that featurelog and confluent-kafka decode", async () => {
    const avro = {
      'apicurio.registry.url': APICURIO_API,
      'apicurio.registry.auto-register': 'true',
      // the Confluent framing: a 4-byte id after the magic byte, in the payload, and no id headers
      'apicurio.registry.as-confluent': 'true',
      // ccompat's /schemas/ids/{id} are content ids in Apicurio 2.x
      'apicurio.registry.use-id': 'contentId',
      'apicurio.registry.headers.enabled': 'false',
    };
    const prefixed = (side: string) =>
      Object.fromEntries(Object.entries(avro).map(([key, value]) => [`${side}.converter.${key}`, value]));
    const messages = await captureChanges('cdc_avro', {
      'key.converter': 'io.apicurio.registry.utils.converter.AvroConverter',
      ...prefixed('key'),
      'value.converter': 'io.apicurio.registry.utils.converter.AvroConverter',
      ...prefixed('value'),
    });
    const table = captures.at(-1)!.table;
    const topic = captures.at(-1)!.topic;

    // the bytes: magic 0, a 4-byte schema id, no headers
    for (const message of messages) {
      // Debezium 3 adds its own __debezium.context.* headers; the converter must add none (apicurio.*.globalId …)
      const headers = Object.keys(message.headers ?? {});
      assert.deepEqual(
        headers.filter((header) => !header.startsWith('__debezium.')),
        [],
        `no schema-id headers: ${headers.join(', ')}`,
      );
      for (const framed of [message.key, message.value]) {
        if (framed === null) continue;
        assert.equal(framed[0], 0, 'magic byte');
        assert.ok(framed.length > 5 && framed.readUInt32BE(1) > 0, 'a 4-byte schema id');
      }
    }
    const valueIds = new Set(messages.filter((m) => m.value !== null).map((m) => decodeEnvelope(m.value!).schemaId));
    assert.equal(valueIds.size, 1, 'one value schema for the three events');

    // featurelog's own decoder, the writer schema fetched by id through the Confluent API (ccompat)
    const registry = new ConfluentSchemaRegistry({ url: env.schemaRegistryUrl });
    try {
      const [valueId] = [...valueIds];
      const writer = await registry.getSchema(valueId!);
      assert.match(JSON.stringify(writer), /Envelope/);
      const decoder = new RowDecoder(registry);
      // Debezium 3 writes source.ts_us/ts_ns and ts_us/ts_ns beside the ts_ms fields: nanoseconds since 1970
      // exceed 2^53, which featurelog's decoder refuses for a long it would return. A reader schema
      // without them (as a view's reader names only what it maps) skips them by Avro's resolution.
      const reader = readerSchema(withoutFields(writer, new Set(['ts_us', 'ts_ns'])) as typeof writer);
      const decoded = await Promise.all(
        messages.map((m) => (m.value === null ? null : decoder.decode(m.value, reader))),
      );
      assertChangeEvents(decoded as unknown as (Envelope | null)[], table);
      const keyReader = readerSchema(await registry.getSchema(decodeEnvelope(messages[0]!.key!).schemaId));
      assert.deepEqual({ ...(await decoder.decode(messages[0]!.key!, keyReader)) }, { id: 1 });
    } finally {
      await registry.close();
    }

    // and confluent-kafka's AvroDeserializer, as a Python consumer of the topic would
    const script = `
import json, sys
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import SerializationContext, MessageField
client = SchemaRegistryClient({"url": sys.argv[1]})
values = AvroDeserializer(client)
keys = AvroDeserializer(client)
out = []
for line in sys.stdin.read().split():
    key, value = line.split(":")
    out.append({
        "key": keys(bytes.fromhex(key), SerializationContext(sys.argv[2], MessageField.KEY)),
        "value": None if value == "-" else values(bytes.fromhex(value), SerializationContext(sys.argv[2], MessageField.VALUE)),
    })
print(json.dumps(out, default=str))
`;
    const input = messages.map((m) => `${m.key!.toString('hex')}:${m.value === null ? '-' : m.value.toString('hex')}`);
    const python = JSON.parse(
      await run(PYTHON, ['-c', script, env.schemaRegistryUrl, topic], { input: input.join('\n') }),
    ) as { key: { id: number }; value: (Envelope & { after: { amount: string } | null }) | null }[];
    assertChangeEvents(
      python.map((row) => row.value),
      table,
    );
    assert.deepEqual(python[0]!.key, { id: 1 });
    // Connect's Decimal as Avro's decimal logical type, read back with its scale
    assert.equal(python[0]!.value!.after!.amount, '12.50');
    assert.equal(python[1]!.value!.after!.amount, '7.25');
  });
});
