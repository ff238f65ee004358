import { avroType, encodeRow, type KafkaDataSource } from '@featurelog/avro';
import type { EntityDefinition, FeatureValue, FeatureViewDefinition } from '@featurelog/domain';
import { decimalText } from './column-values';

/**
 * Records as Kafka Connect and Debezium 3.x write them, for the specs and benches of the CDC formats:
 * one table, `public.customers` of a PostgreSQL database `shop` captured by a connector named `pg`
 * (topic `pg.public.customers`), written by JsonConverter with schemas, by a Connect Avro converter
 * (Confluent wire format), and as plain JSON; and the view over it.
 */

export const customer: EntityDefinition = { name: 'shop_customer', joinKeys: [{ name: 'customer_id', type: 'int64' }] };

/** The view over the table: `id` is mapped to the join key, the other columns keep their names. */
export const customerView: FeatureViewDefinition = {
  name: 'shop_customers',
  version: 1,
  entities: ['shop_customer'],
  features: [
    { name: 'plan', type: 'string' },
    { name: 'balance', type: 'float64' },
    { name: 'credit', type: 'string' },
    { name: 'signed_up', type: 'timestamp' },
    { name: 'birthday', type: 'timestamp' },
    { name: 'tags', type: 'list<string>' },
    { name: 'active', type: 'bool' },
    { name: 'score', type: 'float64' },
    { name: 'avatar', type: 'bytes' },
    { name: 'visits', type: 'int32' },
  ],
  ttlSeconds: 0,
  source: 'customers',
  online: true,
  offline: true,
};

export const CUSTOMERS_TOPIC = 'pg.public.customers';

/** The data source of `format` over the table (`updated_at` is the event time of the non-Debezium ones). */
export function customersSource(format: NonNullable<KafkaDataSource['format']>): KafkaDataSource {
  const timestampField =
    format === 'debezium' ? 'source.ts_ms' : format === 'debezium-unwrapped' ? '__source_ts_ms' : 'updated_at';
  return {
    name: 'customers',
    kind: 'kafka',
    topic: CUSTOMERS_TOPIC,
    format,
    timestampField,
    fieldMapping: { id: 'customer_id' },
  };
}

/** One row of the table, as the test knows it. */
export interface CustomerRow {
  id: number;
  plan: string | null;
  /** numeric(12,2), unscaled. */
  balance: bigint | null;
  /** numeric(20,4), unscaled: read exactly into a string feature. */
  credit: bigint | null;
  /** Epoch µs (timestamptz). */
  signedUp: number | null;
  /** Days since the epoch (date). */
  birthday: number | null;
  tags: string[] | null;
  active: boolean | null;
  score: number | null;
  avatar: Uint8Array | null;
  visits: number | null;
  /** Epoch ms: the commit time (Debezium) or the `updated_at` column (the others). */
  updatedMs: number;
}

/**
 * The view row the decoders must give for a table row. Connect's own Timestamp counts milliseconds, so
 * through it (`connect` types) `signed_up` keeps its milliseconds only.
 */
export function expectedFeatures(
  row: CustomerRow,
  types: 'debezium' | 'connect' = 'debezium',
): Record<string, FeatureValue> {
  return {
    plan: row.plan,
    balance: row.balance === null ? null : Number(decimalText(row.balance, 2)),
    credit: row.credit === null ? null : decimalText(row.credit, 4),
    signed_up:
      row.signedUp === null ? null : types === 'connect' ? Math.floor(row.signedUp / 1000) * 1000 : row.signedUp,
    birthday: row.birthday === null ? null : row.birthday * 86_400_000_000,
    tags: row.tags,
    active: row.active,
    score: row.score,
    avatar: row.avatar === null ? null : Buffer.from(row.avatar),
    visits: row.visits,
  };
}

/** A big-endian two's-complement integer in as few bytes as hold it, as Connect's Decimal writes it. */
export function twosComplement(value: bigint): Buffer {
  let length = 1;
  while (value < -(1n << BigInt(8 * length - 1)) || value >= 1n << BigInt(8 * length - 1)) length++;
  const unsigned = value < 0n ? (1n << BigInt(8 * length)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(2 * length, '0'), 'hex');
}

/** Epoch µs as Debezium's ZonedTimestamp writes it: ISO-8601 in UTC, the fraction as written (≤ 6 digits). */
export function zonedTimestamp(micros: number): string {
  const fraction = String(micros % 1_000_000)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return `${new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`;
}

const decimal = (field: string, scale: number, precision: number) => ({
  type: 'bytes',
  optional: true,
  name: 'org.apache.kafka.connect.data.Decimal',
  version: 1,
  parameters: { scale: String(scale), 'connect.decimal.precision': String(precision) },
  field,
});

/**
 * The Connect schema of a row: with Debezium's PostgreSQL types (`debezium`: timestamptz a
 * ZonedTimestamp, date an io.debezium.time.Date, timestamp a MicroTimestamp) or Connect's own
 * (`connect`: Timestamp, Date), as a JDBC source connector writes them.
 */
export function customerConnectSchema(
  types: 'debezium' | 'connect',
  name: string,
  { optional = false, extra = [] }: { optional?: boolean; extra?: object[] } = {},
) {
  const debezium = types === 'debezium';
  return {
    type: 'struct',
    fields: [
      { type: 'int64', optional: false, default: 0, field: 'id' },
      { type: 'string', optional: true, field: 'plan' },
      decimal('balance', 2, 12),
      decimal('credit', 4, 20),
      debezium
        ? { type: 'string', optional: true, name: 'io.debezium.time.ZonedTimestamp', version: 1, field: 'signed_up' }
        : {
            type: 'int64',
            optional: true,
            name: 'org.apache.kafka.connect.data.Timestamp',
            version: 1,
            field: 'signed_up',
          },
      {
        type: 'int32',
        optional: true,
        name: debezium ? 'io.debezium.time.Date' : 'org.apache.kafka.connect.data.Date',
        version: 1,
        field: 'birthday',
      },
      { type: 'array', items: { type: 'string', optional: true }, optional: true, field: 'tags' },
      { type: 'boolean', optional: true, field: 'active' },
      { type: 'float64', optional: true, field: 'score' },
      { type: 'bytes', optional: true, field: 'avatar' },
      { type: 'int32', optional: true, field: 'visits' },
      debezium
        ? { type: 'int64', optional: false, name: 'io.debezium.time.MicroTimestamp', version: 1, field: 'updated_at' }
        : {
            type: 'int64',
            optional: false,
            name: 'org.apache.kafka.connect.data.Timestamp',
            version: 1,
            field: 'updated_at',
          },
      ...extra,
    ],
    optional,
    name,
  };
}

/** The payload of a row as JsonConverter writes it (bytes and decimals base64). */
export function customerConnectPayload(row: CustomerRow, types: 'debezium' | 'connect'): Record<string, unknown> {
  const base64 = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString('base64'));
  return {
    id: row.id,
    plan: row.plan,
    balance: row.balance === null ? null : base64(twosComplement(row.balance)),
    credit: row.credit === null ? null : base64(twosComplement(row.credit)),
    signed_up:
      row.signedUp === null
        ? null
        : types === 'debezium'
          ? zonedTimestamp(row.signedUp)
          : Math.floor(row.signedUp / 1000),
    birthday: row.birthday,
    tags: row.tags,
    active: row.active,
    score: row.score,
    avatar: base64(row.avatar),
    visits: row.visits,
    updated_at: types === 'debezium' ? row.updatedMs * 1000 : row.updatedMs,
  };
}

/** A record of a `connect-json` source (JsonConverter, schemas.enable=true, Connect's own types). */
export function connectJsonRecord(row: CustomerRow): Buffer {
  return Buffer.from(
    JSON.stringify({
      schema: customerConnectSchema('connect', 'customers'),
      payload: customerConnectPayload(row, 'connect'),
    }),
  );
}

/** A record of a `json` source: the row as an app writes JSON (ISO text, epoch ms, base64, decimals as text). */
export function plainJsonRecord(row: CustomerRow): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: row.id,
      plan: row.plan,
      balance: row.balance === null ? null : Number(decimalText(row.balance, 2)),
      credit: row.credit === null ? null : decimalText(row.credit, 4),
      signed_up: row.signedUp === null ? null : zonedTimestamp(row.signedUp),
      birthday: row.birthday === null ? null : row.birthday * 86_400_000,
      tags: row.tags,
      active: row.active,
      score: row.score,
      avatar: row.avatar === null ? null : Buffer.from(row.avatar).toString('base64'),
      visits: row.visits,
      updated_at: new Date(row.updatedMs).toISOString(),
    }),
  );
}

const SOURCE_SCHEMA = {
  type: 'struct',
  fields: [
    { type: 'string', optional: false, field: 'version' },
    { type: 'string', optional: false, field: 'connector' },
    { type: 'string', optional: false, field: 'name' },
    { type: 'int64', optional: false, field: 'ts_ms' },
    {
      type: 'string',
      optional: true,
      name: 'io.debezium.data.Enum',
      version: 1,
      parameters: { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
      default: 'false',
      field: 'snapshot',
    },
    { type: 'string', optional: false, field: 'db' },
    { type: 'string', optional: true, field: 'sequence' },
    { type: 'int64', optional: true, field: 'ts_us' },
    { type: 'int64', optional: true, field: 'ts_ns' },
    { type: 'string', optional: false, field: 'schema' },
    { type: 'string', optional: false, field: 'table' },
    { type: 'int64', optional: true, field: 'txId' },
    { type: 'int64', optional: true, field: 'lsn' },
    { type: 'int64', optional: true, field: 'xmin' },
  ],
  optional: false,
  name: 'io.debezium.connector.postgresql.Source',
  version: 1,
  field: 'source',
};

/** The envelope schema Debezium 3.x's PostgreSQL connector writes with JsonConverter (schemas.enable=true). */
export const DEBEZIUM_ENVELOPE_SCHEMA = {
  type: 'struct',
  fields: [
    { ...customerConnectSchema('debezium', 'pg.public.customers.Value', { optional: true }), field: 'before' },
    { ...customerConnectSchema('debezium', 'pg.public.customers.Value', { optional: true }), field: 'after' },
    SOURCE_SCHEMA,
    {
      type: 'struct',
      fields: [
        { type: 'string', optional: false, field: 'id' },
        { type: 'int64', optional: false, field: 'total_order' },
        { type: 'int64', optional: false, field: 'data_collection_order' },
      ],
      optional: true,
      name: 'event.block',
      version: 1,
      field: 'transaction',
    },
    { type: 'string', optional: false, field: 'op' },
    { type: 'int64', optional: true, field: 'ts_ms' },
    { type: 'int64', optional: true, field: 'ts_us' },
    { type: 'int64', optional: true, field: 'ts_ns' },
  ],
  optional: false,
  name: 'pg.public.customers.Envelope',
  version: 2,
};

export type DebeziumOp = 'c' | 'u' | 'd' | 'r';

/** The `source` block of a change committed at `committedMs` at WAL position `lsn`. */
export function debeziumSource(committedMs: number, lsn: number, snapshot: string) {
  return {
    version: '3.0.7.Final',
    connector: 'postgresql',
    name: 'pg',
    ts_ms: committedMs,
    snapshot,
    db: 'shop',
    sequence: JSON.stringify([String(lsn - 56), String(lsn)]),
    ts_us: committedMs * 1000,
    ts_ns: committedMs * 1_000_000,
    schema: 'public',
    table: 'customers',
    txId: 700 + (lsn % 1000),
    lsn,
    xmin: null,
  };
}

/**
 * The payload of a change event: `after` for c/u/r, `before` for d (with the default replica identity a
 * delete's `before` holds the primary key only, the other columns null). The connector read it 250 ms
 * after the commit (the envelope's `ts_ms`, which is not the event time).
 */
export function debeziumPayload(op: DebeziumOp, row: CustomerRow, lsn: number, previous?: CustomerRow) {
  const image = customerConnectPayload(row, 'debezium');
  // updated_at is NOT NULL: Avro could not write a null there, so it keeps its value.
  const keyOnly: Record<string, unknown> = Object.fromEntries(
    Object.keys(image).map((key) => [key, key === 'id' || key === 'updated_at' ? image[key] : null]),
  );
  const readMs = row.updatedMs + 250;
  return {
    before: op === 'd' ? keyOnly : op === 'u' && previous ? customerConnectPayload(previous, 'debezium') : null,
    after: op === 'd' ? null : image,
    source: debeziumSource(row.updatedMs, lsn, op === 'r' ? 'true' : 'false'),
    transaction: null,
    op,
    ts_ms: readMs,
    ts_us: readMs * 1000,
    ts_ns: readMs * 1_000_000,
  };
}

/** A Debezium change event with JsonConverter (schemas.enable=true). */
export function debeziumJsonRecord(op: DebeziumOp, row: CustomerRow, lsn: number, previous?: CustomerRow): Buffer {
  return Buffer.from(
    JSON.stringify({ schema: DEBEZIUM_ENVELOPE_SCHEMA, payload: debeziumPayload(op, row, lsn, previous) }),
  );
}

/** Debezium's ExtractNewRecordState output (add.fields=op,source.ts_ms,source.lsn; delete.tombstone.handling.mode=rewrite). */
export function unwrappedJsonRecord(op: DebeziumOp, row: CustomerRow, lsn: number): Buffer {
  const schema = customerConnectSchema('debezium', 'pg.public.customers.Value', {
    extra: [
      { type: 'string', optional: true, field: '__op' },
      { type: 'int64', optional: true, field: '__source_ts_ms' },
      { type: 'int64', optional: true, field: '__source_lsn' },
      { type: 'string', optional: true, field: '__deleted' },
    ],
  });
  return Buffer.from(JSON.stringify({ schema, payload: unwrappedPayload(op, row, lsn) }));
}

function unwrappedPayload(op: DebeziumOp, row: CustomerRow, lsn: number) {
  const { before, after } = debeziumPayload(op, row, lsn);
  return {
    ...(after ?? before),
    __op: op,
    __source_ts_ms: row.updatedMs,
    __source_lsn: lsn,
    __deleted: String(op === 'd'),
  };
}

// --- Avro, as a Connect Avro converter writes Debezium's records (connect.name, connect.parameters). ---

const avroOptional = (type: unknown) => ['null', type];

const AVRO_VALUE_FIELDS = [
  { name: 'id', type: { type: 'long', 'connect.default': 0 }, default: 0 },
  { name: 'plan', type: avroOptional('string'), default: null },
  ...(
    [
      ['balance', 2, 12],
      ['credit', 4, 20],
    ] as const
  ).map(([name, scale, precision]) => ({
    name,
    type: avroOptional({
      type: 'bytes',
      scale,
      precision,
      'connect.version': 1,
      'connect.parameters': { scale: String(scale), 'connect.decimal.precision': String(precision) },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
    }),
    default: null,
  })),
  {
    name: 'signed_up',
    type: avroOptional({ type: 'string', 'connect.version': 1, 'connect.name': 'io.debezium.time.ZonedTimestamp' }),
    default: null,
  },
  {
    name: 'birthday',
    type: avroOptional({ type: 'int', 'connect.version': 1, 'connect.name': 'io.debezium.time.Date' }),
    default: null,
  },
  { name: 'tags', type: avroOptional({ type: 'array', items: avroOptional('string') }), default: null },
  { name: 'active', type: avroOptional('boolean'), default: null },
  { name: 'score', type: avroOptional('double'), default: null },
  { name: 'avatar', type: avroOptional('bytes'), default: null },
  { name: 'visits', type: avroOptional('int'), default: null },
  {
    name: 'updated_at',
    type: { type: 'long', 'connect.version': 1, 'connect.name': 'io.debezium.time.MicroTimestamp' },
  },
];

/** The envelope's Avro schema (namespace pg.public.customers; `after` refers to `Value` by name). */
export const DEBEZIUM_AVRO_SCHEMA = {
  type: 'record',
  name: 'Envelope',
  namespace: 'pg.public.customers',
  fields: [
    {
      name: 'before',
      type: [
        'null',
        { type: 'record', name: 'Value', fields: AVRO_VALUE_FIELDS, 'connect.name': 'pg.public.customers.Value' },
      ],
      default: null,
    },
    { name: 'after', type: ['null', 'Value'], default: null },
    {
      name: 'source',
      type: {
        type: 'record',
        name: 'Source',
        namespace: 'io.debezium.connector.postgresql',
        fields: [
          { name: 'version', type: 'string' },
          { name: 'connector', type: 'string' },
          { name: 'name', type: 'string' },
          { name: 'ts_ms', type: 'long' },
          {
            name: 'snapshot',
            type: [
              {
                type: 'string',
                'connect.version': 1,
                'connect.default': 'false',
                'connect.name': 'io.debezium.data.Enum',
              },
              'null',
            ],
            default: 'false',
          },
          { name: 'db', type: 'string' },
          { name: 'sequence', type: ['null', 'string'], default: null },
          { name: 'ts_us', type: ['null', 'long'], default: null },
          { name: 'ts_ns', type: ['null', 'long'], default: null },
          { name: 'schema', type: 'string' },
          { name: 'table', type: 'string' },
          { name: 'txId', type: ['null', 'long'], default: null },
          { name: 'lsn', type: ['null', 'long'], default: null },
          { name: 'xmin', type: ['null', 'long'], default: null },
        ],
        'connect.name': 'io.debezium.connector.postgresql.Source',
      },
    },
    {
      name: 'transaction',
      type: [
        'null',
        {
          type: 'record',
          name: 'block',
          namespace: 'event',
          fields: [
            { name: 'id', type: 'string' },
            { name: 'total_order', type: 'long' },
            { name: 'data_collection_order', type: 'long' },
          ],
          'connect.version': 1,
          'connect.name': 'event.block',
        },
      ],
      default: null,
    },
    { name: 'op', type: 'string' },
    { name: 'ts_ms', type: ['null', 'long'], default: null },
    { name: 'ts_us', type: ['null', 'long'], default: null },
    { name: 'ts_ns', type: ['null', 'long'], default: null },
  ],
  'connect.version': 2,
  'connect.name': 'pg.public.customers.Envelope',
};

/** ExtractNewRecordState's flattened row in Avro. */
export const UNWRAPPED_AVRO_SCHEMA = {
  type: 'record',
  name: 'Value',
  namespace: 'pg.public.customers',
  fields: [
    ...AVRO_VALUE_FIELDS,
    { name: '__op', type: ['null', 'string'], default: null },
    { name: '__source_ts_ms', type: ['null', 'long'], default: null },
    { name: '__source_lsn', type: ['null', 'long'], default: null },
    { name: '__deleted', type: ['null', 'string'], default: null },
  ],
  'connect.name': 'pg.public.customers.Value',
};

/** The Avro value of a JSON payload's row: bytes and decimals as bytes. */
function avroRow(json: Record<string, unknown> | null): Record<string, unknown> | null {
  if (json === null) return null;
  const row = { ...json };
  for (const field of ['balance', 'credit', 'avatar']) {
    if (typeof row[field] === 'string') row[field] = Buffer.from(row[field], 'base64');
  }
  return row;
}

/**
 * Nanoseconds since the epoch pass 2^53, and avsc cannot pick the branch of a BigInt in `["null", "long"]`
 * when writing. A union is written as its branch index then the value, exactly as a record {index: int,
 * value: long}: the encoder writes `ts_ns` through such a record, byte for byte what Debezium writes, and
 * the decoder reads it with the real schema.
 */
function writableNanos(schema: unknown): unknown {
  let branch = 0;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const object = node as Record<string, unknown>;
    if (object.name === 'ts_ns' && Array.isArray(object.type)) {
      const fields = [
        { name: 'index', type: 'int' },
        { name: 'value', type: 'long' },
      ];
      return { name: 'ts_ns', type: { type: 'record', name: `NanosBranch${branch++}`, namespace: 'writer', fields } };
    }
    return Object.fromEntries(Object.entries(object).map(([key, value]) => [key, walk(value)]));
  };
  return walk(schema);
}

const debeziumAvroType = avroType(writableNanos(DEBEZIUM_AVRO_SCHEMA) as object, { wideLongs: true });
const unwrappedAvroType = avroType(UNWRAPPED_AVRO_SCHEMA, { wideLongs: true });

const exactNanos = <T extends { ts_ns: unknown }>(block: T) => ({
  ...block,
  ts_ns: { index: 1, value: BigInt(block.ts_ns as number) },
});

/** A Debezium change event in Avro, framed under `schemaId` (the Confluent wire format). */
export function debeziumAvroRecord(schemaId: number, op: DebeziumOp, row: CustomerRow, lsn: number): Buffer {
  const payload = debeziumPayload(op, row, lsn);
  return encodeRow(schemaId, debeziumAvroType, {
    ...exactNanos(payload),
    source: exactNanos(payload.source),
    before: avroRow(payload.before),
    after: avroRow(payload.after),
  } as never);
}

/** ExtractNewRecordState's output in Avro, framed under `schemaId`. */
export function unwrappedAvroRecord(schemaId: number, op: DebeziumOp, row: CustomerRow, lsn: number): Buffer {
  return encodeRow(schemaId, unwrappedAvroType, avroRow(unwrappedPayload(op, row, lsn)) as never);
}

/** A random table row; each nullable column null about one time in five. */
export function randomCustomerRow(random: () => number, id?: number): CustomerRow {
  const maybe = <T>(make: () => T): T | null => (random() < 0.2 ? null : make());
  const integer = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const big = (digits: number) => {
    const text = Array.from({ length: integer(1, digits) }, () => integer(0, 9)).join('');
    return (random() < 0.3 ? -1n : 1n) * BigInt(text);
  };
  return {
    id: id ?? integer(-(2 ** 40), 2 ** 40),
    plan: maybe(() => ['free', 'pro', 'team', 'ünïcödé ✓', '', 'a "quoted" plan'][integer(0, 5)]!),
    balance: maybe(() => big(12)),
    credit: maybe(() => big(20)),
    signedUp: maybe(() => integer(0, 4_102_444_800_000_000)),
    birthday: maybe(() => integer(0, 40_000)),
    tags: maybe(() => Array.from({ length: integer(0, 3) }, () => ['vip', 'new', 'churn-risk'][integer(0, 2)]!)),
    active: maybe(() => random() < 0.5),
    score: maybe(() => (random() - 0.5) * 10 ** integer(-3, 12)),
    avatar: maybe(() => Uint8Array.from({ length: integer(0, 16) }, () => integer(0, 255))),
    visits: maybe(() => integer(-(2 ** 31), 2 ** 31 - 1)),
    updatedMs: integer(1_000_000_000_000, 4_102_444_800_000),
  };
}
