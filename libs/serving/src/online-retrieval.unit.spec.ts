import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogError, SCALAR_TYPES, type FeatureValue, type RowVersion, type ValueType } from '@featurelog/domain';
import {
  encodeStoredValue,
  storedViewValueOf,
  type OnlineReadRequest,
  type OnlineStore,
  type OnlineViewValue,
  type SelectedReadRequest,
} from '@featurelog/online-store';
import {
  CatalogSource,
  OnlineFeatureRetriever,
  parseOnlineFeaturesRequest,
  JsonWriter,
  storedBytesWriterFor,
  storedValueEncoderFor,
  storedValueWriterFor,
  timestampJson,
  valueEncoderFor,
} from '@featurelog/serving';
import { registryOf, servingTestDefinitions } from '@featurelog/serving/testing';

const NOW = Date.UTC(2025, 0, 1) * 1_000;
const version = (eventTimestamp: number, offset = 0): RowVersion => ({
  eventTimestamp,
  createdTimestamp: null,
  position: { partition: 0, offset },
});

/** An online store in a map, recording every read so the single round trip can be checked. */
class MapStore implements Pick<OnlineStore, 'readStored'> {
  readonly reads: OnlineReadRequest[][] = [];
  readonly values = new Map<string, OnlineViewValue>();
  put(entityKey: string, view: string, value: OnlineViewValue): void {
    this.values.set(`${entityKey}/${view}`, value);
  }
  async readStored(_project: string, requests: readonly SelectedReadRequest[]) {
    this.reads.push([...requests]);
    return requests.map((r) =>
      r.views.map((view, j) => {
        const value = this.values.get(`${r.entityKey}/${view}`);
        if (value === undefined) return null;
        const stored = r.features[j]!.map((name) =>
          name in value.features ? encodeStoredValue(value.features[name] ?? null) : '',
        );
        return storedViewValueOf(value.version, stored);
      }),
    );
  }
}

function retrieverOver(store: MapStore, maxEntityRows?: number) {
  const state = registryOf(servingTestDefinitions());
  const catalogs = new CatalogSource('p', { state, assertComplete: () => undefined });
  return new OnlineFeatureRetriever({
    project: 'p',
    store: store as unknown as OnlineStore,
    catalogs,
    maxEntityRows,
    nowMicros: () => NOW,
  });
}

interface Body {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[]; event_timestamps: string[] }>;
}

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FeaturelogError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

/** A value nested `depth` lists deep, as JSON.parse makes it from `[[[…1…]]]`. */
function nested(depth: number): unknown {
  return JSON.parse(`${'['.repeat(depth)}1${']'.repeat(depth)}`);
}

describe('get-online-features without HTTP', () => {
  it('answers every status in Feast shape, join keys first, with ONE store read', async () => {
    const store = new MapStore();
    store.put('driver_id=1', 'driver_stats', {
      version: version(NOW - 1_000_000),
      features: { conv_rate: 0.5, acc_rate: 0.25, trips: 7 },
    });
    // Older than the view's TTL of 1 h: served, flagged.
    store.put('driver_id=2', 'driver_stats', {
      version: version(NOW - 3_601_000_000),
      features: { conv_rate: 0.1, acc_rate: null, trips: 1 },
    });
    const result = await retrieverOver(store).retrieve({
      features: ['driver_stats:conv_rate', 'driver_stats:trips'],
      entities: { driver_id: [1, 2, 3] },
    });
    const body = JSON.parse(result.body.toString()) as Body;
    assert.deepEqual(body.metadata.feature_names, ['driver_id', 'conv_rate', 'trips']);
    assert.deepEqual(body.results[0], {
      values: [1, 2, 3],
      statuses: ['PRESENT', 'PRESENT', 'PRESENT'],
      event_timestamps: ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z'],
    });
    assert.deepEqual(body.results[1]?.values, [0.5, 0.1, null]);
    assert.deepEqual(body.results[1]?.statuses, ['PRESENT', 'OUTSIDE_MAX_AGE', 'NOT_FOUND']);
    assert.equal(body.results[1]?.event_timestamps[0], '2024-12-31T23:59:59.000Z');
    assert.equal(body.results[1]?.event_timestamps[2], '1970-01-01T00:00:00Z');
    assert.deepEqual(body.results[2]?.values, [7, 1, null]);
    assert.deepEqual(result.statuses, { PRESENT: 2, NULL_VALUE: 0, OUTSIDE_MAX_AGE: 2, NOT_FOUND: 2 });
    assert.equal(store.reads.length, 1);
  });

  it('serves a service over views of different entities in one read, one request per entity group per row', async () => {
    const store = new MapStore();
    store.put('driver_id=1', 'driver_stats', {
      version: version(NOW),
      features: { conv_rate: 1, acc_rate: 2, trips: 3 },
    });
    store.put('customer_id=c%7C1', 'customer_profile', { version: version(NOW), features: { name: 'Ann', vip: true } });
    store.put('customer_id=c%7C1|driver_id=1', 'driver_customer', {
      version: version(NOW - 1),
      features: { rides_together: 4, trips: 9 },
    });
    const result = await retrieverOver(store).retrieve({
      feature_service: 'ranking',
      entities: { customer_id: ['c|1', 'c2'], driver_id: [1, 1] },
      full_feature_names: true,
    });
    const body = JSON.parse(result.body.toString()) as Body;
    assert.deepEqual(body.metadata.feature_names, [
      'customer_id',
      'driver_id',
      'driver_stats__conv_rate',
      'driver_stats__acc_rate',
      'driver_stats__trips',
      'customer_profile__name',
      'customer_profile__vip',
      'driver_customer__rides_together',
    ]);
    assert.deepEqual(body.results[0]?.values, ['c|1', 'c2']);
    assert.deepEqual(body.results[5]?.values, ['Ann', null]);
    assert.deepEqual(body.results[6]?.values, [true, null]);
    assert.deepEqual(body.results[7]?.values, [4, null]);
    assert.deepEqual(body.results[7]?.statuses, ['PRESENT', 'NOT_FOUND']);
    assert.equal(body.results[7]?.event_timestamps[0], '2024-12-31T23:59:59.999999Z');
    assert.equal(store.reads.length, 1);
    assert.equal(store.reads[0]?.length, 6, '2 rows x 3 entity groups');
  });

  it('writes multi-byte text exactly, whatever the size of the body', async () => {
    const store = new MapStore();
    const rows = 300;
    const ids = Array.from({ length: rows }, (_, i) => `c${i}`);
    // Every value three or four UTF-8 bytes per character: more than the body's first estimate.
    const name = (i: number) => `ü🌍"\\€${'€'.repeat(i % 50)}`;
    ids.forEach((id, i) =>
      store.put(`customer_id=${id}`, 'customer_profile', { version: version(NOW - i), features: { name: name(i) } }),
    );
    const result = await retrieverOver(store, rows).retrieve({
      features: ['customer_profile:name'],
      entities: { customer_id: ids },
    });
    const body = JSON.parse(result.body.toString('utf8')) as Body;
    assert.deepEqual(
      body.results[1]?.values,
      ids.map((_, i) => name(i)),
    );
    assert.deepEqual(
      body.results[1]?.event_timestamps,
      ids.map((_, i) => JSON.parse(timestampJson(NOW - i)) as string),
    );
  });

  it('writes bytes as base64, NaN as a string, lists as arrays, and timestamps as RFC 3339 text', async () => {
    const store = new MapStore();
    store.put('customer_id=x', 'customer_profile', {
      version: version(NOW),
      features: {
        name: 'a"b',
        tags: ['t1', 't2'],
        avatar: new Uint8Array([1, 2, 255]),
        vip: false,
        signed_up: 1_700_000_000_000_001,
      },
    });
    const body = JSON.parse(
      (
        await retrieverOver(store).retrieve({ features: ['customer_profile:*'], entities: { customer_id: ['x'] } })
      ).body.toString(),
    ) as Body;
    assert.deepEqual(
      body.results.slice(1).map((r) => r.values[0]),
      ['a"b', ['t1', 't2'], 'AQL/', false, '2023-11-14T22:13:20.000001Z'],
    );
    assert.equal(valueEncoderFor('float64')(Number.NaN), '"NaN"');
    assert.equal(valueEncoderFor('float32')(Number.NEGATIVE_INFINITY), '"-Infinity"');
    assert.equal(valueEncoderFor('list<float64>')([1.5, Number.POSITIVE_INFINITY]), '[1.5,"Infinity"]');
    assert.equal(timestampJson(1_000_001), '"1970-01-01T00:00:01.000001Z"');
    // Oracle: Date#toISOString, microseconds appended; before the epoch and far from it too.
    const oracle = (micros: number) => {
      const millis = Math.floor(micros / 1_000);
      const rest = micros - millis * 1_000;
      const iso = new Date(millis).toISOString();
      return rest === 0 ? `"${iso}"` : `"${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z"`;
    };
    const samples = [0, 1, 999, 1_000, -1, -1_000, -86_400_000_000, Number.MAX_SAFE_INTEGER, -62_135_596_800_000_000];
    for (let i = 0; i < 5_000; i++) samples.push(Math.floor((Math.random() - 0.3) * 4e15));
    for (const micros of samples) assert.equal(timestampJson(micros), oracle(micros), `${micros}`);
  });

  it('refuses each bad input with a message that names it', async () => {
    const retriever = retrieverOver(new MapStore(), 3);
    const cases: Array<[unknown, string, RegExp]> = [
      [{ features: ['driver_stats:nope'], entities: { driver_id: [1] } }, 'UNKNOWN_FEATURE', /"nope"/],
      [{ features: ['nope:x'], entities: { driver_id: [1] } }, 'UNKNOWN_FEATURE_VIEW', /"nope"/],
      [{ features: ['conv_rate'], entities: { driver_id: [1] } }, 'INVALID_FEATURE_REFERENCE', /"conv_rate"/],
      [{ feature_service: 'nope', entities: { driver_id: [1] } }, 'UNKNOWN_FEATURE_SERVICE', /"nope"/],
      [{ features: ['driver_customer:trips'], entities: { driver_id: [1] } }, 'MISSING_JOIN_KEY', /"customer_id"/],
      [{ features: ['driver_stats:trips'], entities: { driver_idd: [1] } }, 'UNEXPECTED_JOIN_KEY', /"driver_idd"/],
      [
        { features: ['driver_stats:trips'], entities: { driver_id: [true] } },
        'INVALID_JOIN_KEY_VALUE',
        /row 0.*"driver_id" \(int64\)/,
      ],
      [
        { features: ['driver_customer:trips'], entities: { driver_id: [1], customer_id: [1001] } },
        'INVALID_JOIN_KEY_VALUE',
        /"entities"."customer_id"\[0\] must be a string .*send "1001", not 1001/,
      ],
      [
        // As a request body reads it: 9007199254740993 is already 2^53.
        JSON.parse('{"features": ["driver_stats:trips"], "entities": {"driver_id": [9007199254740993]}}'),
        'INVALID_JOIN_KEY_VALUE',
        /past 2\^53.*as strings/,
      ],
      [{ features: ['driver_stats:trips'], entities: { driver_id: [1.5] } }, 'INVALID_JOIN_KEY_VALUE', /driver_id/],
      [
        { features: ['driver_customer:trips'], entities: { driver_id: [1, 2], customer_id: ['a'] } },
        'INVALID_REQUEST',
        /"driver_id" has 2 values, "customer_id" has 1/,
      ],
      [
        { features: ['driver_stats:trips'], entities: { driver_id: [1, 2, 3, 4] } },
        'PAYLOAD_TOO_LARGE',
        /4 rows.*maxEntityRows = 3/,
      ],
      [{ features: [], entities: { driver_id: [1] } }, 'INVALID_REQUEST', /"features"/],
      [{ features: ['driver_stats:trips'], feature_service: 'ranking', entities: {} }, 'INVALID_REQUEST', /not both/],
      [{ features: ['driver_stats:trips'] }, 'INVALID_REQUEST', /"entities"/],
      [
        { features: ['driver_stats:trips'], entities: { driver_id: 1 } },
        'INVALID_REQUEST',
        /"entities"."driver_id" must be a list/,
      ],
      [
        { features: ['driver_stats:trips'], entities: { driver_id: [1] }, full_feature_names: 'yes' },
        'INVALID_REQUEST',
        /full_feature_names/,
      ],
      [{ features: ['driver_stats:trips'], entities: { driver_id: [1] }, extra: 1 }, 'INVALID_REQUEST', /"extra"/],
      [
        { features: ['driver_stats:trips', 'driver_customer:trips'], entities: { driver_id: [1], customer_id: ['a'] } },
        'FEATURE_NAME_COLLISION',
        /full_feature_names/,
      ],
      [[1, 2], 'INVALID_REQUEST', /JSON object/],
      // An int64 beyond its range as the app's JSON parser reads it (parseJsonExact): refused by its exact value.
      [
        { features: ['driver_stats:trips'], entities: { driver_id: [9223372036854775808n] } },
        'INVALID_JOIN_KEY_VALUE',
        /must be an integer in int64 range.*got 9223372036854775808$/,
      ],
      // Nested 5,000 deep: JSON.parse reads it, String() and JSON.stringify of it overflow the stack.
      [
        { features: ['driver_stats:trips'], entities: { driver_id: [nested(5_000)] } },
        'INVALID_JOIN_KEY_VALUE',
        /"driver_id" \(int64\) must be a safe integer .*got a list of 1/,
      ],
      [
        { features: ['driver_stats:trips'], entities: { driver_id: [{ a: nested(5_000) }] } },
        'INVALID_JOIN_KEY_VALUE',
        /got an object/,
      ],
    ];
    for (const [body, code, message] of cases) await rejects(retriever.retrieve(body), code, message);
    for (const text of [
      ' 1',
      '1 ',
      '+1',
      '1e3',
      '1.0',
      '0x10',
      '',
      '-',
      '9223372036854775808',
      '-9223372036854775809',
    ]) {
      await assert.rejects(
        retriever.retrieve({ features: ['driver_stats:trips'], entities: { driver_id: [1, text] } }),
        (error: unknown) => {
          assert.ok(error instanceof FeaturelogError && error.code === 'INVALID_JOIN_KEY_VALUE', String(error));
          assert.ok(
            error.message.startsWith('"entities"."driver_id"[1] must be an integer in int64 range') &&
              error.message.endsWith(`got ${JSON.stringify(text)}`),
            error.message,
          );
          return true;
        },
      );
    }
  });

  it('says NULL_VALUE for a null value of a row within its TTL, and OUTSIDE_MAX_AGE before it', async () => {
    const store = new MapStore();
    store.put('driver_id=1', 'driver_stats', { version: version(NOW), features: { conv_rate: null, trips: 3 } });
    store.put('driver_id=2', 'driver_stats', {
      version: version(NOW - 3_601_000_000),
      features: { conv_rate: null, acc_rate: null, trips: 1 },
    });
    // A float32 as Avro hands it over: the double 4.900000095367432, served as 4.9.
    store.put('driver_id=3', 'driver_stats', {
      version: version(NOW),
      features: { conv_rate: 0.5, acc_rate: Math.fround(4.9), trips: null },
    });
    const result = await retrieverOver(store).retrieve({
      features: ['driver_stats:conv_rate', 'driver_stats:acc_rate', 'driver_stats:trips'],
      entities: { driver_id: [1, 2, 3, 4] },
    });
    const body = JSON.parse(result.body.toString()) as Body;
    assert.deepEqual(
      body.results.map((column) => column.statuses),
      [
        ['PRESENT', 'PRESENT', 'PRESENT', 'PRESENT'],
        ['NULL_VALUE', 'OUTSIDE_MAX_AGE', 'PRESENT', 'NOT_FOUND'],
        // Driver 1's row has no acc_rate at all: a feature the winning row lacks is null too.
        ['NULL_VALUE', 'OUTSIDE_MAX_AGE', 'PRESENT', 'NOT_FOUND'],
        ['PRESENT', 'OUTSIDE_MAX_AGE', 'NULL_VALUE', 'NOT_FOUND'],
      ],
    );
    assert.deepEqual(body.results[1]?.values, [null, null, 0.5, null]);
    assert.deepEqual(body.results[2]?.values, [null, null, 4.9, null]);
    assert.deepEqual(body.results[3]?.values, [3, 1, null, null]);
    // The timestamps stay the row's: a null value is still of that row.
    assert.deepEqual(body.results[2]?.event_timestamps, body.results[3]?.event_timestamps);
    assert.deepEqual(result.statuses, { PRESENT: 3, NULL_VALUE: 3, OUTSIDE_MAX_AGE: 3, NOT_FOUND: 3 });
  });

  it('takes integer join keys given as strings, exactly, past 2^53 too', async () => {
    const store = new MapStore();
    store.put('driver_id=1001', 'driver_stats', { version: version(NOW), features: { trips: 1 } });
    store.put('driver_id=-7', 'driver_stats', { version: version(NOW), features: { trips: 2 } });
    // 2^53 + 1: as a JSON number it would read as 2^53 and find this other driver.
    store.put('driver_id=9007199254740993', 'driver_stats', { version: version(NOW), features: { trips: 3 } });
    store.put('driver_id=9007199254740992', 'driver_stats', { version: version(NOW), features: { trips: 4 } });
    store.put('driver_id=9223372036854775807', 'driver_stats', { version: version(NOW), features: { trips: 5 } });
    const result = await retrieverOver(store).retrieve({
      features: ['driver_stats:trips'],
      entities: { driver_id: ['1001', 1001, '-7', '0007', '9007199254740993', '9223372036854775807'] },
    });
    const body = JSON.parse(result.body.toString()) as Body;
    assert.deepEqual(body.results[1]?.values, [1, 1, 2, null, 3, 5]);
    // The same past 2^53 as a JSON number the serving app read exactly (a bigint), echoed digit for digit.
    const exact = await retrieverOver(store).retrieve({
      features: ['driver_stats:trips'],
      entities: { driver_id: [9007199254740993n, 9223372036854775807n] },
    });
    const exactText = exact.body.toString();
    assert.match(exactText, /"values":\[9007199254740993,9223372036854775807\]/);
    assert.deepEqual((JSON.parse(exactText) as Body).results[1]?.values, [3, 5]);
    assert.deepEqual(store.reads[0]?.map((read) => read.entityKey).slice(3, 4), ['driver_id=7']);
    // The join key column echoes the request as it was given.
    assert.deepEqual(body.results[0]?.values, ['1001', 1001, '-7', '0007', '9007199254740993', '9223372036854775807']);
  });

  it('reuses the compiled plan until the registry changes', () => {
    let state = registryOf(servingTestDefinitions());
    const catalogs = new CatalogSource('p', {
      get state() {
        return state;
      },
      assertComplete: () => undefined,
    });
    const request = parseOnlineFeaturesRequest({
      feature_service: 'ranking',
      entities: { driver_id: [1], customer_id: ['a'] },
    });
    const first = catalogs.current().plan(request.selection, false);
    assert.equal(catalogs.current().plan(request.selection, false), first);
    state = registryOf(servingTestDefinitions());
    assert.notEqual(catalogs.current().plan(request.selection, false), first);
  });
});

describe('JSON of stored values', () => {
  it('is exactly the JSON of the decoded value, for every type and every value of it', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const doubles = Array.from({ length: 2_000 }, () => {
      const bits = new DataView(new ArrayBuffer(8));
      bits.setUint32(0, Math.floor(random() * 2 ** 32));
      bits.setUint32(4, Math.floor(random() * 2 ** 32));
      return bits.getFloat64(0);
    });
    const values: FeatureValue[] = [
      null,
      0,
      -0,
      1,
      -1,
      1.5,
      -2.25e-7,
      1e21,
      5e-324,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      true,
      false,
      '',
      'a"b\\c\n',
      'ü🌍\u001f|,',
      '123',
      'NaN',
      new Uint8Array([]),
      new Uint8Array([0, 1, 255]),
      [],
      [1, 2.5, null],
      ['x', 'y"'],
      [true, false],
      [Number.NaN, -0],
      [new Uint8Array([9])],
      ...doubles,
    ];
    const types = SCALAR_TYPES.flatMap((type): ValueType[] => [type, `list<${type}>`]);
    for (const type of types) {
      const fromValue = valueEncoderFor(type);
      const fromStored = storedValueEncoderFor(type);
      const intoWriter = storedValueWriterFor(type);
      const out = new JsonWriter(16);
      for (const value of values.filter((v) => fits(type, v))) {
        const stored = encodeStoredValue(value);
        assert.equal(fromStored(stored), fromValue(value), `${type} of stored ${JSON.stringify(stored)}`);
        // '' (null) is written by the shaper before any writer is asked.
        if (stored === '') continue;
        out.reset();
        intoWriter(out, stored);
        assert.equal(out.toString(), fromValue(value), `${type} of stored ${JSON.stringify(stored)}, written`);
        assertBytesWriteAsText(type, Buffer.from(stored));
      }
    }
  });

  it('writes from the stored bytes exactly what it writes from the stored text, odd and foreign forms too', () => {
    const texts = [
      '-0',
      '-0.0',
      '0',
      '00',
      '007',
      '-007',
      '1.',
      '.5',
      '-',
      '-.5',
      '1e5',
      '1.5e-7',
      '1.2.3',
      ' 1',
      '4.900000095367432',
      '4.9',
      '123456',
      '1234567',
      '0.000001',
      '0.0000000000000000000001',
      '0.00000000000000000000000000000000000000001',
      '340282356779733661637539395458142568448',
      '999999999999999',
      '1234567890123456',
      '1764670000000000',
      '9007199254740991',
      '9007199254740992',
      '9999999999999999',
      '-9007199254740991',
      '12345678901234567',
      '-999999999999999',
      'NaN',
      'Infinity',
      '-Infinity',
      't',
      'f',
      'tt',
      'true',
      's',
      'sa"b\\c\n\u0000\u007f',
      'sü🌍\u2028',
      's\ufeff',
      'b',
      'bAAH/',
      'b"x',
      '[1,2]',
      '["a","ü"]',
      'l["bAAH/","NaN"]',
      'x',
    ];
    const sources = texts.map((text) => Buffer.from(text));
    sources.push(Buffer.from([0x73, 0xff, 0x41]), Buffer.from([0x73, 0xed, 0xa0, 0x80]), Buffer.from([0x31, 0xc0]));
    for (const type of SCALAR_TYPES.flatMap((type): ValueType[] => [type, `list<${type}>`])) {
      for (const source of sources) assertBytesWriteAsText(type, source);
    }
  });
});

/**
 * storedBytesWriterFor(type) over `bytes` (inside a larger buffer, as in a store's reply) writes the
 * bytes storedValueWriterFor(type) writes for their text.
 */
function assertBytesWriteAsText(type: ValueType, bytes: Buffer): void {
  const source = Buffer.concat([Buffer.from('s"\\'), bytes, Buffer.from('\u0000b')]);
  const text = source.toString('utf8', 3, 3 + bytes.length);
  // A text in no stored form fails both ways alike (ONLINE_STORE_CORRUPT).
  const outcome = (write: (out: JsonWriter) => void): Buffer | string => {
    const out = new JsonWriter(8);
    try {
      write(out);
    } catch (error) {
      return error instanceof FeaturelogError ? `${error.code}: ${error.message}` : String(error);
    }
    return out.finish();
  };
  assert.deepEqual(
    outcome((out) => storedBytesWriterFor(type)(out, source, 3, 3 + bytes.length)),
    outcome((out) => storedValueWriterFor(type)(out, text)),
    `${type} of stored bytes ${bytes.toString('hex')} (${text})`,
  );
}

function fits(type: ValueType, value: FeatureValue): boolean {
  if (value === null) return true;
  if (type.startsWith('list<')) {
    const element = type.slice(5, -1) as ValueType;
    return Array.isArray(value) && value.every((item) => fits(element, item));
  }
  switch (type) {
    case 'bool':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string';
    case 'bytes':
      return value instanceof Uint8Array;
    default:
      return typeof value === 'number';
  }
}
