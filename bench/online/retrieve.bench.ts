/**
 * Serving's own work per POST /get-online-features, in process, with no I/O: the body parsed as the
 * app parses it (parseJsonExact), then OnlineFeatureRetriever.retrieve over a store that answers
 * stored values made ahead (the bench's 10 driver features per view, as byte spans: the shaper reads
 * the bytes, the store's own work of finding them is not counted). Prints CPU µs per request and
 * the bytes the heap grew by per request (measured between collections, with a young generation
 * large enough that none happens in the window: a figure with `*` had one, and reads low), for the
 * online bench's three cases.
 *
 *   node_modules/.bin/node --expose-gc --min-semi-space-size=128 --max-semi-space-size=128 -r @swc-node/register bench/online/retrieve.bench.ts
 *   BENCH_CASES=2 …   (a subset);   BENCH_PHASES=1 …   (heap growth of each step of a batch-100 request)
 */
import { parseJsonExact } from '@featurelog/domain';
import {
  encodeStoredValue,
  storedViewValueOf,
  type OnlineStore,
  type SelectedReadRequest,
  type StoredViewValue,
} from '@featurelog/online-store';
import {
  CatalogSource,
  OnlineFeatureRetriever,
  parseOnlineFeaturesRequest,
  shapeOnlineResponse,
  storeRequests,
} from '@featurelog/serving';
import { registryOf } from '@featurelog/serving/testing';
import { GcPauses } from '@featurelog/observability';
import { exitOnFailure } from '../bench-entry';
import { driverDefinitions, driverFeatures, DRIVER_FEATURE_TYPES, DRIVER_VIEWS } from '../driver-features';

const NAMES = DRIVER_FEATURE_TYPES.map(([name]) => name);
const NOW = Date.now() * 1_000;
const ENTITIES = 1_000;

/** Stored values per entity and view, made once: the store's own decoding is not serving's work. */
const stored = new Map<string, Map<string, StoredViewValue>>();
for (let entity = 0; entity < ENTITIES; entity++) {
  const views = new Map<string, StoredViewValue>();
  stored.set(`driver_id=${entity}`, views);
  DRIVER_VIEWS.forEach((view, v) => {
    const x = entity * 7 + v;
    const features = driverFeatures(x, NOW - 1_000_000 - x);
    views.set(
      view,
      storedViewValueOf(
        { eventTimestamp: NOW - 1_000_000 - x, createdTimestamp: null, position: { partition: 0, offset: x } },
        NAMES.map((name) => encodeStoredValue(features[name] ?? null)),
      ),
    );
  });
}

const store = {
  async readStored(_project: string, requests: readonly SelectedReadRequest[]) {
    return requests.map((r) => {
      const views = stored.get(r.entityKey);
      return r.views.map((view) => views?.get(view) ?? null);
    });
  },
} as unknown as OnlineStore;

const catalogs = new CatalogSource('bench', {
  state: registryOf(driverDefinitions()),
  assertComplete: () => undefined,
});
const retriever = new OnlineFeatureRetriever({
  project: 'bench',
  store,
  catalogs,
  nowMicros: () => NOW,
});

const CASES = [
  {
    name: '1 view x 10, batch 1',
    batch: 1,
    body: (ids: number[]) => ({ features: ['v0:*'], entities: { driver_id: ids } }),
  },
  {
    name: 'service 5 x 10, batch 1',
    batch: 1,
    body: (ids: number[]) => ({ feature_service: 'svc50', entities: { driver_id: ids }, full_feature_names: true }),
  },
  {
    name: 'service 5 x 10, batch 100',
    batch: 100,
    body: (ids: number[]) => ({ feature_service: 'svc50', entities: { driver_id: ids }, full_feature_names: true }),
  },
];

const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  if (gc === undefined) throw new Error('run with --expose-gc');
  // BENCH_CASES=0,2 runs a subset.
  const chosen = process.env.BENCH_CASES ? process.env.BENCH_CASES.split(',').map((i) => CASES[Number(i)]!) : CASES;
  for (const testCase of chosen) {
    const bodies = Array.from({ length: 256 }, (_, k) =>
      Buffer.from(
        JSON.stringify(testCase.body(Array.from({ length: testCase.batch }, (_, i) => (k * 31 + i * 17) % ENTITIES))),
      ),
    );
    const once = (k: number) => retriever.retrieve(parseJsonExact(bodies[k % bodies.length]!.toString('utf8')));
    const iterations = testCase.batch === 1 ? 50_000 : 2_000;
    for (let k = 0; k < iterations / 4; k++) await once(k);
    const cpu = process.cpuUsage();
    for (let k = 0; k < iterations; k++) await once(k);
    const used = process.cpuUsage(cpu);
    // Heap growth per request between collections: a window short enough that none happens in it.
    const window = testCase.batch === 1 ? 2_000 : 100;
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const pauses = new GcPauses().start();
    const before = process.memoryUsage();
    for (let k = 0; k < window; k++) await once(k);
    const after = process.memoryUsage();
    // gc entries arrive after the collection: give them a turn.
    await new Promise((resolve) => setImmediate(resolve));
    const collected = pauses.window().count > 0 ? '*' : ' ';
    pauses.stop();
    const grown = after.heapUsed - before.heapUsed;
    const external = after.arrayBuffers - before.arrayBuffers;
    console.log(
      `${testCase.name.padEnd(26)} ${((used.user + used.system) / iterations).toFixed(1).padStart(7)} µs/req CPU, ` +
        `${(grown / window / 1024).toFixed(1).padStart(7)} kB/req heap${collected} + ${(external / window / 1024).toFixed(1).padStart(6)} kB/req buffers`,
    );
  }
}

exitOnFailure(process.env.BENCH_PHASES ? phases() : main());

/** BENCH_PHASES=1: heap growth per request of each step of a batch-100 request, one at a time. */
async function phases(): Promise<void> {
  if (gc === undefined) throw new Error('run with --expose-gc');
  const collect = gc;
  const testCase = CASES[2]!;
  const text = JSON.stringify(testCase.body(Array.from({ length: 100 }, (_, i) => i * 7)));
  const measure = async (name: string, fn: () => unknown) => {
    for (let k = 0; k < 200; k++) await fn();
    collect();
    await new Promise((resolve) => setImmediate(resolve));
    const pauses = new GcPauses().start();
    const before = process.memoryUsage().heapUsed;
    for (let k = 0; k < 100; k++) await fn();
    const grown = process.memoryUsage().heapUsed - before;
    await new Promise((resolve) => setImmediate(resolve));
    const collected = pauses.window().count > 0 ? ' (* a collection ran: reads low)' : '';
    pauses.stop();
    console.log(name.padEnd(20), (grown / 100 / 1024).toFixed(1), `kB${collected}`);
  };
  const body = parseJsonExact(text);
  const request = parseOnlineFeaturesRequest(body);
  const plan = catalogs.current().plan(request.selection, request.fullFeatureNames);
  const reads = storeRequests(plan, request);
  const replies = await store.readStored('bench', reads);
  await measure('parseJsonExact', () => parseJsonExact(text));
  await measure('JSON.parse', () => JSON.parse(text));
  await measure('parseRequest', () => parseOnlineFeaturesRequest(body));
  await measure('plan', () => catalogs.current().plan(request.selection, request.fullFeatureNames));
  await measure('storeRequests', () => storeRequests(plan, request));
  await measure('store', () => store.readStored('bench', reads));
  await measure('shape', () => shapeOnlineResponse(plan, request, replies, NOW));
}
