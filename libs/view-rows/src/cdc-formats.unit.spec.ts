import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readerSchema, RowDecoder, type AvroSchema, type KafkaDataSource } from '@featurelog/avro';
import {
  FeaturelogError,
  type EntityDefinition,
  type FeatureViewDefinition,
  type KafkaSourceFormat,
} from '@featurelog/domain';
import { seededRandom } from '@featurelog/testing';
import { debeziumSourcePosition, resolvedView, ViewRowDecoder, type ViewChange } from '@featurelog/view-rows';
import {
  connectJsonRecord,
  customer,
  customersSource,
  customerView,
  DEBEZIUM_AVRO_SCHEMA,
  debeziumAvroRecord,
  debeziumJsonRecord,
  expectedFeatures,
  plainJsonRecord,
  randomCustomerRow,
  UNWRAPPED_AVRO_SCHEMA,
  unwrappedAvroRecord,
  unwrappedJsonRecord,
  type CustomerRow,
  type DebeziumOp,
} from '@featurelog/view-rows/testing';

const PROJECT = 'bank';
const account: EntityDefinition = { name: 'account', joinKeys: [{ name: 'account_id', type: 'int64' }] };
/** The view over the recorded `public.accounts` events (fixtures/). */
const accountView: FeatureViewDefinition = {
  name: 'account_state',
  version: 1,
  entities: ['account'],
  features: [
    { name: 'owner', type: 'string' },
    { name: 'plan', type: 'string' },
    { name: 'balance', type: 'float64' },
    { name: 'opened_at', type: 'timestamp' },
  ],
  ttlSeconds: 0,
  source: 'accounts',
  online: true,
  offline: true,
};

/** The change to account 42 (of the recorded events) a decoder should give, at `eventMs`. */
function accountChange(
  op: 'upsert' | 'delete',
  eventMs: number,
  features: object,
  sourcePosition?: string,
): ViewChange {
  return {
    op,
    row: {
      joinKeys: { account_id: 42 },
      eventTimestamp: eventMs * 1000,
      createdTimestamp: null,
      features: features as never,
    },
    ...(sourcePosition === undefined ? {} : { sourcePosition }),
  };
}

/** A PostgreSQL LSN as a source position: 20 digits. */
const lsn = (value: number): string => String(value).padStart(20, '0');

/** The features of a deleted account row: all null. */
const DELETED = { owner: null, plan: null, balance: null, opened_at: null };

function accountsSource(format: KafkaSourceFormat, timestampField = 'updated_at'): KafkaDataSource {
  return {
    name: 'accounts',
    kind: 'kafka',
    topic: 'pg.public.accounts',
    format,
    timestampField,
    fieldMapping: { id: 'account_id' },
  };
}

/** A writer-schema source over a map, as the schema registry answers. */
function registry(schemas: Map<number, unknown> = new Map()) {
  return {
    getSchema: async (id: number) => {
      const found = schemas.get(id);
      if (found === undefined) throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id}`);
      return found as AvroSchema;
    },
  };
}

function decoderFor(
  source: KafkaDataSource,
  { view = accountView, entities = [account], schemas = registry() } = {},
): ViewRowDecoder {
  return new ViewRowDecoder(resolvedView(PROJECT, view, entities, source), PROJECT, new RowDecoder(schemas), schemas);
}

const fixture = (name: string): Buffer => readFileSync(join(__dirname, 'fixtures', name));
/** A recorded event with its schema or payload changed, as JSON. */
function edited(name: string, edit: (record: Recorded) => void): Buffer {
  const record = JSON.parse(fixture(name).toString('utf8')) as Recorded;
  edit(record);
  return Buffer.from(JSON.stringify(record));
}
/** Recorded JSON, edited by path in the tests (any: its shape is the fixture's, checked by the decoder). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Recorded = { schema: any; payload: any };
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const micros = (iso: string) => Date.parse(iso) * 1000;

describe('connect-json (JsonConverter, schemas.enable=true)', () => {
  /** Every column of the JDBC-source record, with Connect's Timestamp, Date, Time and Decimal. */
  const jdbcView: FeatureViewDefinition = {
    ...accountView,
    features: [
      { name: 'owner', type: 'string' },
      { name: 'plan', type: 'string' },
      { name: 'balance', type: 'float64' },
      { name: 'opened_at', type: 'timestamp' },
      { name: 'opened_on', type: 'timestamp' },
      { name: 'cutoff', type: 'int32' },
    ],
  };
  const rows = decoderFor(accountsSource('connect-json'), { view: jdbcView });
  const withFeature = (name: string, type: string) =>
    decoderFor(accountsSource('connect-json'), {
      view: { ...jdbcView, features: jdbcView.features.map((f) => (f.name === name ? { ...f, type } : f)) } as never,
    });

  it("reads a recorded record by its schema: Connect's logical types and optional fields", () => {
    assert.deepEqual(
      rows.decodeChange(fixture('connect-json-jdbc-accounts.json')),
      accountChange('upsert', 1_740_823_330_123, {
        owner: null,
        plan: 'pro',
        balance: 510.93,
        opened_at: 1_730_795_400_123_000,
        opened_on: micros('2024-11-05T00:00:00Z'),
        cutoff: 63_000_000,
      }),
    );
    // A Decimal is exact into a string feature.
    assert.equal(
      withFeature('balance', 'string').decode(fixture('connect-json-jdbc-accounts.json')).features.balance,
      '510.93',
    );
  });

  it('refuses what is not JsonConverter output with schemas, naming why', () => {
    const refusals: Array<[Buffer, string, RegExp]> = [
      [json({ id: 42, plan: 'pro', updated_at: 1 }), 'CONNECT_SCHEMA_MISSING', /schemas\.enable=true/],
      [fixture('connect-json-filestream-line.json'), 'CONNECT_SCHEMA_INVALID', /the schema is a string, not a struct/],
      [Buffer.from('{"schema": {"type": "struct"'), 'JSON_MALFORMED', /pg\.public\.accounts is not JSON/],
      [Buffer.from([0xff, 0xfe, 0x7b]), 'JSON_MALFORMED', /is not JSON/],
      [
        edited('connect-json-jdbc-accounts.json', (r) => (r.payload.plan = null)),
        'CONNECT_PAYLOAD_INVALID',
        /field plan is null, but its schema says it is required/,
      ],
      [
        edited(
          'connect-json-jdbc-accounts.json',
          (r) => (r.schema.fields[4].name = 'org.apache.kafka.connect.data.Instant'),
        ),
        'CONNECT_LOGICAL_TYPE_UNKNOWN',
        /field opened_at has logical type org\.apache\.kafka\.connect\.data\.Instant/,
      ],
      [
        edited('connect-json-jdbc-accounts.json', (r) => (r.payload.balance = '!!')),
        'CONNECT_PAYLOAD_INVALID',
        /field balance: bytes must be base64/,
      ],
      [
        edited('connect-json-jdbc-accounts.json', (r) => (r.payload.plan = 7)),
        'SOURCE_TYPE_MISMATCH',
        /plan must be a string/,
      ],
    ];
    for (const [value, code, message] of refusals) {
      assert.throws(() => rows.decode(value), { code, message }, code);
      assert.throws(
        () => rows.decode(value),
        (error: FeaturelogError) => !error.retriable,
      );
    }
  });

  it('reads an unknown logical type in a column the view does not use, and takes a default for a null', () => {
    const record = edited('connect-json-jdbc-accounts.json', (r) => {
      r.schema.fields.push({ type: 'int64', optional: true, name: 'com.acme.Money', field: 'unused' });
      r.payload.unused = 5;
      r.schema.fields[2].default = 'free';
      r.payload.plan = null;
    });
    assert.equal(rows.decode(record).features.plan, 'free');
  });

  it('reads a repeated schema once, and judges every other record whole', () => {
    const reader = decoderFor(accountsSource('connect-json'), { view: jdbcView });
    // Compact, as JsonConverter writes it (the fixture file is pretty-printed).
    const recorded = JSON.stringify(JSON.parse(fixture('connect-json-jdbc-accounts.json').toString('utf8')));
    const prefix = recorded.slice(0, recorded.indexOf(',"payload":') + ',"payload":'.length);
    const payload = (plan: string) => JSON.stringify({ ...JSON.parse(recorded).payload, plan });
    const plans = (values: string[]) => values.map((value) => reader.decode(Buffer.from(value)).features.plan);
    assert.deepEqual(
      plans([
        recorded,
        `${prefix}${payload('team')}}`,
        `${prefix}${payload('free')},"extra":1}`, // another key after the payload: read whole, the same
        `${prefix} ${payload('solo')} }`,
      ]),
      ['pro', 'team', 'free', 'solo'],
    );
    assert.throws(() => reader.decode(Buffer.from(`${prefix}${payload('x')}}}`)), { code: 'JSON_MALFORMED' });
    assert.throws(() => reader.decode(Buffer.from(`${prefix}null}`)), { code: 'CONNECT_PAYLOAD_INVALID' });
    // `,"payload":` inside the schema's own text is no end of the schema.
    const tricky = edited('connect-json-jdbc-accounts.json', (r) => (r.schema.parameters = { a: '1', payload: '{}' }));
    const trickyText = tricky.toString('utf8');
    const trickyPrefix = trickyText.slice(0, trickyText.lastIndexOf(',"payload":') + ',"payload":'.length);
    assert.deepEqual(plans([trickyText, `${trickyPrefix}${payload('team')}}`]), ['pro', 'team']);
  });

  it("refuses a Decimal that does not fit the feature's type, and a Time as a timestamp", () => {
    const record = fixture('connect-json-jdbc-accounts.json');
    assert.throws(() => withFeature('balance', 'int64').decode(record), {
      code: 'DECIMAL_UNFIT',
      message: /field balance: decimal 510\.93 has a fraction, which an int64 cannot hold/,
    });
    const whole = edited('connect-json-jdbc-accounts.json', (r) => (r.payload.balance = 'AQAAAAAAAAAAAA==')); // 2^72 / 100
    assert.throws(() => withFeature('balance', 'int32').decode(whole), {
      code: 'DECIMAL_UNFIT',
      message: /field balance: decimal 47223664828696452136\.96 has a fraction/,
    });
    const big = edited('connect-json-jdbc-accounts.json', (r) => {
      r.schema.fields[3].parameters.scale = '0';
      r.payload.balance = 'AQAAAAA='; // 2^32
    });
    assert.throws(() => withFeature('balance', 'int32').decode(big), {
      code: 'DECIMAL_UNFIT',
      message: /decimal 4294967296 is outside the range of an int32/,
    });
    assert.equal(withFeature('balance', 'int64').decode(big).features.balance, 4_294_967_296);
    assert.throws(() => withFeature('balance', 'bool').decode(record), {
      code: 'DECIMAL_UNFIT',
      message: /cannot be a bool/,
    });
    assert.throws(() => withFeature('cutoff', 'timestamp').decode(record), {
      code: 'SOURCE_TYPE_MISMATCH',
      message: /field cutoff: a Time cannot be a timestamp/,
    });
  });
});

describe('json (no schemas, typed by the view)', () => {
  const rows = decoderFor(accountsSource('json'));

  it('types plain JSON by the view: ISO text or epoch milliseconds for timestamps', () => {
    const value = json({
      id: 42,
      owner: 'Ana',
      plan: 'pro',
      balance: 510.93,
      opened_at: '2024-11-05T08:30:00.123456+01:00',
      updated_at: 1_740_823_330_123,
      extra: [1],
    });
    assert.deepEqual(
      rows.decodeChange(value),
      accountChange('upsert', 1_740_823_330_123, {
        owner: 'Ana',
        plan: 'pro',
        balance: 510.93,
        opened_at: micros('2024-11-05T07:30:00.123Z') + 456,
      }),
    );
  });

  it('refuses a record that is no object, one with a schema envelope, and values of another type', () => {
    assert.throws(() => rows.decode(json([1, 2])), { code: 'JSON_NOT_OBJECT' });
    assert.throws(() => rows.decode(fixture('connect-json-jdbc-accounts.json')), {
      code: 'JSON_HAS_SCHEMA',
      message: /declare the source's format as connect-json/,
    });
    assert.throws(() => rows.decode(json({ id: 42, plan: 3, updated_at: 1 })), {
      code: 'SOURCE_TYPE_MISMATCH',
      message: /plan must be a string/,
    });
    assert.throws(() => rows.decode(json({ id: 42, opened_at: 'yesterday', updated_at: 1 })), {
      code: 'SOURCE_TYPE_MISMATCH',
      message: /field opened_at: "yesterday" is no ISO-8601 timestamp/,
    });
    assert.throws(() => rows.decode(json({ plan: 'pro', updated_at: 1 })), { code: 'MISSING_JOIN_KEY' });
    assert.throws(() => rows.decode(json({ id: 42 })), { code: 'INVALID_TIMESTAMP' });
  });
});

describe('debezium (change events, PostgreSQL connector)', () => {
  const rows = decoderFor(accountsSource('debezium', 'source.ts_ms'));
  const upsert = (eventMs: number, features: object, sourcePosition: string): ViewChange =>
    accountChange('upsert', eventMs, features, sourcePosition);

  it("upserts snapshot reads and updates at the source's commit time, not the connector's", () => {
    assert.deepEqual(
      rows.decodeChange(fixture('debezium-pg-snapshot.json')),
      upsert(
        1_740_823_300_000,
        { owner: 'Ana Lima', plan: 'pro', balance: 510.93, opened_at: micros('2024-11-05T08:30:00.123Z') + 456 },
        lsn(24023800),
      ),
    );
    assert.deepEqual(
      rows.decodeChange(fixture('debezium-pg-update.json')),
      upsert(
        1_740_823_390_000,
        { owner: 'Ana Lima', plan: 'team', balance: -12.5, opened_at: micros('2024-11-05T08:30:00.123Z') + 456 },
        lsn(24023928),
      ),
    );
  });

  it('deletes the entity `before` names at the commit time; the tombstone after it changes nothing', () => {
    const deleted = rows.decodeChange(fixture('debezium-pg-delete.json'));
    assert.deepEqual(deleted, accountChange('delete', 1_740_823_450_250, DELETED, lsn(24024096)));
    assert.deepEqual(rows.decodeChange(null), { op: 'tombstone' });
    // Readers that do not apply deletes refuse them: a delete is never taken for an upsert of nulls.
    assert.throws(() => rows.decode(fixture('debezium-pg-delete.json')), {
      code: 'DELETE_NOT_APPLIED',
      message: /deletes account_id=42 of view "account_state" at 2025-03-01T10:04:10\.250Z/,
    });
    assert.throws(() => rows.decode(null), { code: 'RECORD_VALUE_MISSING', message: /tombstone after a delete/ });
  });

  it('refuses what is no change event it can apply, naming why', () => {
    const refusals: Array<[Buffer, string, RegExp]> = [
      [
        edited('debezium-pg-update.json', (r) => (r.payload.after = null)),
        'DEBEZIUM_AFTER_MISSING',
        /a Debezium u event of pg\.public\.accounts has no "after"/,
      ],
      [
        edited('debezium-pg-delete.json', (r) => (r.payload.before = null)),
        'DEBEZIUM_BEFORE_MISSING',
        /has no "before"/,
      ],
      [fixture('debezium-pg-truncate.json'), 'DEBEZIUM_OP_UNSUPPORTED', /op "t"/],
      [fixture('debezium-unwrapped-pg-update.json'), 'DEBEZIUM_ENVELOPE_INVALID', /format debezium-unwrapped/],
      [
        edited('debezium-pg-update.json', (r) => delete r.payload.source.ts_ms),
        'DEBEZIUM_ENVELOPE_INVALID',
        /has no source\.ts_ms/,
      ],
      // schemas.enable=false: the bare envelope.
      [
        json(JSON.parse(fixture('debezium-pg-update.json').toString()).payload),
        'CONNECT_SCHEMA_MISSING',
        /schemas\.enable=true/,
      ],
      [
        edited('debezium-pg-update.json', (r) => (r.schema.fields[1].fields[3].name = 'io.debezium.data.Money')),
        'CONNECT_LOGICAL_TYPE_UNKNOWN',
        /field balance has logical type io\.debezium\.data\.Money/,
      ],
      [
        edited('debezium-pg-update.json', (r) => (r.schema.fields[1].fields[3].parameters = {})),
        'CONNECT_LOGICAL_TYPE_UNKNOWN',
        /Decimal without a scale/,
      ],
    ];
    for (const [value, code, message] of refusals)
      assert.throws(() => rows.decodeChange(value), { code, message }, code);
    const byOwner: EntityDefinition = { name: 'owner', joinKeys: [{ name: 'owner', type: 'string' }] };
    const ownerRows = decoderFor(
      { ...accountsSource('debezium', 'source.ts_ms'), fieldMapping: {} },
      {
        view: { ...accountView, entities: ['owner'], features: [{ name: 'plan', type: 'string' }] },
        entities: [byOwner],
      },
    );
    assert.throws(() => ownerRows.decodeChange(fixture('debezium-pg-delete.json')), {
      code: 'DEBEZIUM_DELETE_KEY_MISSING',
      message: /no owner in "before".*replica identity is FULL/,
    });
  });
});

describe('debezium-unwrapped (ExtractNewRecordState)', () => {
  const rows = decoderFor(accountsSource('debezium-unwrapped', '__source_ts_ms'));

  it('upserts a row and deletes on __deleted, at __source_ts_ms', () => {
    assert.deepEqual(
      rows.decodeChange(fixture('debezium-unwrapped-pg-update.json')),
      accountChange('upsert', 1_740_823_390_000, {
        owner: 'Ana Lima',
        plan: 'team',
        balance: -12.5,
        opened_at: micros('2024-11-05T08:30:00.123Z') + 456,
      }),
    );
    assert.deepEqual(
      rows.decodeChange(fixture('debezium-unwrapped-pg-delete.json')),
      accountChange('delete', 1_740_823_450_250, DELETED),
    );
    // Without rewritten deletes a delete is only a tombstone: refused with the setting to change, never skipped.
    assert.throws(() => rows.decodeChange(null), {
      code: 'RECORD_VALUE_MISSING',
      message: /delete\.tombstone\.handling\.mode=rewrite/,
    });
    assert.throws(() => rows.decode(fixture('debezium-unwrapped-pg-delete.json')), { code: 'DELETE_NOT_APPLIED' });
  });
});

describe("source positions: fixed-width digits per connector, in the log's order", () => {
  it('normalises PostgreSQL, MySQL, SQL Server and Oracle positions; others have none', () => {
    assert.equal(debeziumSourcePosition({ connector: 'postgresql', lsn: 24023928 }), '00000000000024023928');
    assert.equal(
      debeziumSourcePosition({ connector: 'postgresql', lsn: 18446744073709551615n }),
      '18446744073709551615',
    );
    // PostgreSQL's own text form: two 32-bit hex halves.
    assert.equal(debeziumSourcePosition({ connector: 'postgresql', lsn: '1/16B3748' }), lsn(2 ** 32 + 0x16b3748));
    assert.equal(
      debeziumSourcePosition({ connector: 'mysql', file: 'mysql-bin.000003', pos: 154, row: 2 }),
      '0000000003' + '00000000000000000154' + '0000000002',
    );
    assert.equal(
      debeziumSourcePosition({ connector: 'mysql', file: 'binlog.000012', pos: 9 }),
      '0000000012' + '00000000000000000009' + '0000000000',
    );
    assert.equal(
      debeziumSourcePosition({
        connector: 'sqlserver',
        commit_lsn: '00000027:00000758:0005',
        change_lsn: '00000027:00000758:0003',
      }),
      '0000000039' + '0000001880' + '00005' + '0000000039' + '0000001880' + '00003',
    );
    // A snapshot row has no change_lsn: zeros, below every change of the same commit.
    assert.equal(
      debeziumSourcePosition({ connector: 'sqlserver', commit_lsn: '00000027:00000758:0005', change_lsn: null }),
      '0000000039' + '0000001880' + '00005' + '0'.repeat(25),
    );
    assert.equal(debeziumSourcePosition({ connector: 'oracle', scn: '2887395' }), lsn(2887395));
    // Guessed from the fields when the connector is not named (ExtractNewRecordState's added fields).
    assert.equal(debeziumSourcePosition({ lsn: 7 }), lsn(7));
    assert.equal(debeziumSourcePosition({ scn: '7' }), lsn(7));
    for (const source of [
      { connector: 'mongodb', ord: 1 },
      {},
      { connector: 'postgresql', lsn: -1 },
      { connector: 'postgresql', lsn: 1.5 },
      { connector: 'postgresql', lsn: '123456789012345678901' },
      { connector: 'mysql', file: 'no-suffix', pos: 1 },
      { connector: 'sqlserver', commit_lsn: '27:758' },
      { connector: 'oracle', scn: 'abc' },
    ]) {
      assert.equal(debeziumSourcePosition(source), undefined, JSON.stringify(source));
    }
  });

  it('orders as the numbers do: wider numbers never sort before narrower ones', () => {
    const random = seededRandom(4242);
    for (let i = 0; i < 500; i++) {
      const [a, b] = [Math.floor(random() * 2 ** 40), Math.floor(random() * 2 ** 40)];
      const [pa, pb] = [debeziumSourcePosition({ lsn: a })!, debeziumSourcePosition({ lsn: b })!];
      assert.equal(Math.sign(pa.localeCompare(pb, 'en')), Math.sign(a - b));
      assert.equal(pa < pb, a < b);
      const [ma, mb] = [
        debeziumSourcePosition({ connector: 'mysql', file: `b.${String(a % 7)}`, pos: a, row: 0 })!,
        debeziumSourcePosition({ connector: 'mysql', file: `b.${String(b % 7)}`, pos: b, row: 0 })!,
      ];
      const order = a % 7 !== b % 7 ? (a % 7) - (b % 7) : a - b;
      assert.equal(ma < mb, order < 0);
    }
  });

  it('reads the position ExtractNewRecordState added to an unwrapped row (`__source_lsn`, `__lsn`)', () => {
    const rows = decoderFor(accountsSource('debezium-unwrapped', '__source_ts_ms'));
    const withPosition = (field: string, value: unknown): Buffer => {
      const record = JSON.parse(fixture('debezium-unwrapped-pg-update.json').toString()) as {
        schema: { fields: object[] };
        payload: Record<string, unknown>;
      };
      record.schema.fields.push({ type: 'int64', optional: true, field });
      record.payload[field] = value;
      return Buffer.from(JSON.stringify(record));
    };
    const position = (value: Buffer) => (rows.decodeChange(value) as { sourcePosition?: string }).sourcePosition;
    assert.equal(position(withPosition('__source_lsn', 24023928)), lsn(24023928));
    assert.equal(position(withPosition('__lsn', 24023928)), lsn(24023928));
    assert.equal(position(fixture('debezium-unwrapped-pg-update.json')), undefined);
  });
});

describe('Debezium in Avro (a Connect Avro converter, Confluent wire format)', () => {
  const schemas = registry(
    new Map<number, unknown>([
      [7, DEBEZIUM_AVRO_SCHEMA],
      [8, UNWRAPPED_AVRO_SCHEMA],
      [9, { type: 'record', name: 'Other', fields: [{ name: 'x', type: 'long' }] }],
    ]),
  );
  const row: CustomerRow = {
    id: 5,
    plan: 'pro',
    balance: 51093n,
    credit: -1234567890123456789n,
    signedUp: 1_730_795_400_123_456,
    birthday: 7000,
    tags: ['vip'],
    active: true,
    score: 0.25,
    avatar: Uint8Array.from([1, 2, 255]),
    visits: 3,
    updatedMs: 1_740_823_390_000,
  };
  const expected = {
    joinKeys: { customer_id: 5 },
    eventTimestamp: 1_740_823_390_000_000,
    createdTimestamp: null,
    features: expectedFeatures(row),
  };

  it('reads the envelope and the unwrapped rows by their writer schemas', async () => {
    const cdc = decoderFor(customersSource('debezium'), { view: customerView, entities: [customer], schemas });
    const records = [
      debeziumAvroRecord(7, 'u', row, 99),
      debeziumAvroRecord(7, 'd', row, 100),
      debeziumAvroRecord(9, 'c', row, 1),
      debeziumAvroRecord(11, 'c', row, 1),
    ];
    await cdc.prepare(records.map((value) => ({ value })));
    assert.deepEqual(cdc.decodeChange(records[0]!), { op: 'upsert', row: expected, sourcePosition: lsn(99) });
    assert.deepEqual(cdc.decodeChange(records[1]!), {
      op: 'delete',
      row: { ...expected, features: Object.fromEntries(Object.keys(expected.features).map((name) => [name, null])) },
      sourcePosition: lsn(100),
    });
    assert.equal(expected.features.credit, '-123456789012345.6789');
    assert.throws(() => cdc.decodeChange(records[2]!), { code: 'SOURCE_SCHEMA_UNUSABLE', message: /writer schema 9/ });
    assert.throws(() => cdc.decodeChange(records[3]!), { code: 'SCHEMA_NOT_FOUND' });
    // Debezium's ts_ns is beyond the safe integers: a reader of safe longs only could not read the record.
    await assert.rejects(new RowDecoder(schemas).decode(records[0]!, readerSchema(DEBEZIUM_AVRO_SCHEMA)), {
      code: 'AVRO_DECODE_FAILED',
      message: /safe integer range/,
    });

    const flat = decoderFor(customersSource('debezium-unwrapped'), {
      view: customerView,
      entities: [customer],
      schemas,
    });
    const flatRecords = [unwrappedAvroRecord(8, 'c', row, 5), unwrappedAvroRecord(8, 'd', row, 6)];
    await flat.prepare(flatRecords.map((value) => ({ value })));
    assert.deepEqual(flat.decodeChange(flatRecords[0]!), { op: 'upsert', row: expected, sourcePosition: lsn(5) });
    assert.equal(flat.decodeChange(flatRecords[1]!).op, 'delete');
  });
});

describe('every CDC format, encode → decode (property, seeded)', () => {
  const schemas = registry(
    new Map<number, unknown>([
      [7, DEBEZIUM_AVRO_SCHEMA],
      [8, UNWRAPPED_AVRO_SCHEMA],
    ]),
  );
  const OPS: DebeziumOp[] = ['c', 'u', 'r', 'd'];
  type Case = {
    name: string;
    format: KafkaSourceFormat;
    types: 'debezium' | 'connect';
    encode: (row: CustomerRow, op: DebeziumOp, lsn: number) => Buffer;
    ops: DebeziumOp[];
    position: boolean;
  };
  const cases: Case[] = [
    {
      name: 'connect-json',
      format: 'connect-json',
      types: 'connect',
      encode: connectJsonRecord,
      ops: ['c'],
      position: false,
    },
    { name: 'json', format: 'json', types: 'debezium', encode: plainJsonRecord, ops: ['c'], position: false },
    {
      name: 'debezium, JSON',
      format: 'debezium',
      types: 'debezium',
      encode: (r, op, lsn) => debeziumJsonRecord(op, r, lsn),
      ops: OPS,
      position: true,
    },
    {
      name: 'debezium, Avro',
      format: 'debezium',
      types: 'debezium',
      encode: (r, op, lsn) => debeziumAvroRecord(7, op, r, lsn),
      ops: OPS,
      position: true,
    },
    {
      name: 'debezium-unwrapped, JSON',
      format: 'debezium-unwrapped',
      types: 'debezium',
      encode: (r, op, lsn) => unwrappedJsonRecord(op, r, lsn),
      ops: OPS,
      position: true,
    },
    {
      name: 'debezium-unwrapped, Avro',
      format: 'debezium-unwrapped',
      types: 'debezium',
      encode: (r, op, lsn) => unwrappedAvroRecord(8, op, r, lsn),
      ops: OPS,
      position: true,
    },
  ];
  for (const { name, format, types, encode, ops, position } of cases) {
    it(`${name}: 300 random rows read back as written`, async () => {
      const seed = 20_260_000 + name.length;
      const random = seededRandom(seed);
      const rows = decoderFor(customersSource(format), { view: customerView, entities: [customer], schemas });
      for (let i = 0; i < 300; i++) {
        const row = randomCustomerRow(random);
        const op = ops[Math.floor(random() * ops.length)]!;
        const lsn = 1_000_000 + i * 64;
        const value = encode(row, op, lsn);
        await rows.prepare([{ value }]);
        const features = expectedFeatures(row, types);
        const expected: ViewChange = {
          op: op === 'd' ? 'delete' : 'upsert',
          row: {
            joinKeys: { customer_id: row.id },
            eventTimestamp: row.updatedMs * 1000,
            createdTimestamp: null,
            features: op === 'd' ? Object.fromEntries(Object.keys(features).map((f) => [f, null])) : features,
          },
          ...(position ? { sourcePosition: String(lsn).padStart(20, '0') } : {}),
        };
        assert.deepEqual(
          rows.decodeChange(value),
          expected,
          `seed ${seed}, row ${i}: ${JSON.stringify(row, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`,
        );
      }
    });
  }
});
