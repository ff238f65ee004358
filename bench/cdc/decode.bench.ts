/**
 * CDC decode bench: rows/s of each data-source format's decoder (ViewRowDecoder.decodeChange, what the
 * materializer, the compactor and exports call per record), beside the Avro decoder of a managed topic
 * in the same run. The same table rows (a PostgreSQL `customers` table: 10 features among them two
 * decimals, a timestamptz, a date, a text[] and a bytea) in every format.
 *
 *   node_modules/.bin/node -r @swc-node/register bench/cdc/decode.bench.ts
 *   BENCH_ROWS=20000 … (default 100,000)
 *
 * Baseline: the view's own row schema in Confluent Avro (ManagedAvroFormat), decoded to the same view
 * row. Each case decodes a rotating set of distinct records so that no single buffer stays hot.
 */
import { avroType, encodeRow, rowSchemaFor, RowDecoder, type KafkaDataSource } from '@featurelog/avro';
import type { FeatureRow } from '@featurelog/avro';
import { seededRandom } from '@featurelog/testing';
import { resolvedView, ViewRowDecoder } from '@featurelog/view-rows';
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
} from '@featurelog/view-rows/testing';

const rows = Number(process.env.BENCH_ROWS ?? 100_000);
const distinctRecords = 1_000;
const PROJECT = 'bench';

const managedSchema = rowSchemaFor({ ...customerView, source: undefined }, [customer], PROJECT);
const schemas: Record<number, object> = { 1: managedSchema, 7: DEBEZIUM_AVRO_SCHEMA, 8: UNWRAPPED_AVRO_SCHEMA };
const registry = { getSchema: async (id: number) => schemas[id]! };

function decoderFor(source: KafkaDataSource | undefined): ViewRowDecoder {
  const view = source === undefined ? { ...customerView, source: undefined } : customerView;
  return new ViewRowDecoder(
    resolvedView(PROJECT, view, [customer], source),
    PROJECT,
    new RowDecoder(registry),
    registry,
  );
}

/** The view row of a table row in the managed topic's schema. */
function managedRow(row: CustomerRow): FeatureRow {
  return {
    customer_id: row.id,
    event_timestamp: row.updatedMs * 1000,
    created_timestamp: null,
    ...expectedFeatures(row),
  };
}

function measure(name: string, decoder: ViewRowDecoder, records: readonly Buffer[]): number {
  for (let i = 0; i < Math.min(rows, 20_000); i++) decoder.decodeChange(records[i % distinctRecords]!); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < rows; i++) decoder.decodeChange(records[i % distinctRecords]!);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const perSecond = rows / seconds;
  const bytes = records.reduce((sum, record) => sum + record.length, 0) / records.length;
  console.log(
    `${name.padEnd(34)} ${Math.round(perSecond).toLocaleString('en').padStart(10)} rows/s  ${Math.round(bytes).toLocaleString('en').padStart(6)} B/record`,
  );
  return perSecond;
}

async function main(): Promise<void> {
  const random = seededRandom(42);
  // No deletes: every case decodes the same upserts.
  const table = Array.from({ length: distinctRecords }, (_, i) => randomCustomerRow(random, i));
  const managedType = avroType(managedSchema);
  const cases: Array<[string, KafkaDataSource | undefined, (row: CustomerRow, i: number) => Buffer]> = [
    ['avro, managed topic (baseline)', undefined, (row) => encodeRow(1, managedType, managedRow(row))],
    ['connect-json', customersSource('connect-json'), (row) => connectJsonRecord(row)],
    ['json', customersSource('json'), (row) => plainJsonRecord(row)],
    ['debezium, JSON with schemas', customersSource('debezium'), (row, i) => debeziumJsonRecord('u', row, i)],
    ['debezium, Avro', customersSource('debezium'), (row, i) => debeziumAvroRecord(7, 'u', row, i)],
    ['debezium-unwrapped, JSON', customersSource('debezium-unwrapped'), (row, i) => unwrappedJsonRecord('u', row, i)],
    [
      'debezium-unwrapped, Avro',
      customersSource('debezium-unwrapped'),
      (row, i) => unwrappedAvroRecord(8, 'u', row, i),
    ],
  ];
  console.log(`${rows.toLocaleString('en')} records per case, ${customerView.features.length} features`);
  let baseline = 0;
  const ratios: string[] = [];
  for (const [name, source, encode] of cases) {
    const records = table.map(encode);
    const decoder = decoderFor(source);
    await decoder.prepare(records.map((value) => ({ value })));
    const perSecond = measure(name, decoder, records);
    if (source === undefined) baseline = perSecond;
    else ratios.push(`${name} ${(perSecond / baseline).toFixed(2)}`);
  }
  console.log(`ratios to the managed Avro decoder: ${ratios.join(', ')}`);
}

void main();
