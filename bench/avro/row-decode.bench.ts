/**
 * Row decode bench: the materializer's hot path, a framed 10-feature row decoded into a plain object.
 *
 *   node_modules/.bin/node -r @swc-node/register bench/avro/row-decode.bench.ts
 *   BENCH_ROWS=200000 … (default 1,000,000)
 *
 * Baseline: avsc's own `fromBuffer` on the same body with a stock type (no framing, no long checks,
 * records with generated prototypes). Cases: RowDecoder.decodeLoaded with the writer schema equal to
 * the reader schema (no resolver), and with an older writer schema (resolver); encodeRow for scale.
 * Each case decodes a rotating set of distinct messages so that no single buffer stays hot.
 */
import { Type } from 'avsc';
import type { EntityDefinition, FeatureViewDefinition } from '@featurelog/domain';
import {
  avroType,
  decodeEnvelope,
  encodeRow,
  readerSchema,
  RowDecoder,
  rowSchemaFor,
  type FeatureRow,
} from '@featurelog/avro';

const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const distinctMessages = 1_000;

const driver: EntityDefinition = { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] };
const features = [
  { name: 'conv_rate', type: 'float64' },
  { name: 'acc_rate', type: 'float64' },
  { name: 'avg_daily_trips', type: 'int64' },
  { name: 'trips_today', type: 'int32' },
  { name: 'rating', type: 'float32' },
  { name: 'active', type: 'bool' },
  { name: 'city', type: 'string' },
  { name: 'vehicle', type: 'string' },
  { name: 'last_trip_at', type: 'timestamp' },
  { name: 'lifetime_km', type: 'float64' },
] as const;
const view: FeatureViewDefinition = {
  name: 'driver_stats',
  version: 1,
  entities: ['driver'],
  features: [...features],
  ttlSeconds: 0,
  online: true,
  offline: true,
};
const current = rowSchemaFor(view, [driver], 'bench');
const older = rowSchemaFor({ ...view, features: features.slice(0, 9) }, [driver], 'bench');

function sampleRow(i: number): FeatureRow {
  return {
    driver_id: 1_000_000 + i,
    event_timestamp: 1_700_000_000_000_000 + i * 1_000_003,
    created_timestamp: 1_700_000_000_500_000 + i,
    conv_rate: i / 1_000,
    acc_rate: 1 - i / 1_000,
    avg_daily_trips: i * 3,
    trips_today: i % 40,
    rating: 4.5,
    active: i % 2 === 0,
    city: ['Zürich', 'Lisboa', 'Oslo'][i % 3]!,
    vehicle: `car-${i % 97}`,
    last_trip_at: 1_700_000_000_000_000 + i,
    lifetime_km: i * 12.75,
  };
}

function measure(name: string, run: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(rows, 50_000); i++) run(i); // warm-up: let V8 optimize
  const start = process.hrtime.bigint();
  for (let i = 0; i < rows; i++) run(i);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const perSecond = rows / seconds;
  console.log(`${name.padEnd(44)} ${Math.round(perSecond).toLocaleString('en').padStart(12)} rows/s`);
  return perSecond;
}

async function main(): Promise<void> {
  const reader = readerSchema(current);
  const schemas: Record<number, object> = { 1: current, 2: older };
  const decoder = new RowDecoder({ getSchema: async (id) => schemas[id]! });
  await decoder.load(1);
  await decoder.load(2);
  const sameSchema = Array.from({ length: distinctMessages }, (_, i) => encodeRow(1, reader.type, sampleRow(i)));
  const olderType = avroType(older);
  const olderSchema = Array.from({ length: distinctMessages }, (_, i) => encodeRow(2, olderType, sampleRow(i)));
  const stock = Type.forSchema(current as never);
  const bodies = sameSchema.map((message) => decodeEnvelope(message).body);

  console.log(`${rows.toLocaleString('en')} rows, 10 features, ${sameSchema[0]!.length} bytes per framed row`);
  const baseline = measure('baseline: avsc fromBuffer (stock type)', (i) =>
    stock.fromBuffer(bodies[i % distinctMessages]!),
  );
  const direct = measure('RowDecoder.decodeLoaded, writer = reader', (i) =>
    decoder.decodeLoaded(sameSchema[i % distinctMessages]!, reader),
  );
  const resolved = measure('RowDecoder.decodeLoaded, older writer', (i) =>
    decoder.decodeLoaded(olderSchema[i % distinctMessages]!, reader),
  );
  const rowsToEncode = Array.from({ length: distinctMessages }, (_, i) => sampleRow(i));
  const encoded = measure('encodeRow', (i) => encodeRow(1, reader.type, rowsToEncode[i % distinctMessages]!));
  console.log(
    `ratios to baseline: decode ${(direct / baseline).toFixed(2)}, resolved decode ${(resolved / baseline).toFixed(2)}, encode ${(encoded / baseline).toFixed(2)}`,
  );
}

void main();
