import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromIPC } from 'apache-arrow';
import { parseTimestampText, type RowVersion } from '@featurelog/domain';
import { arrowValues } from '@featurelog/offline-store';
import { postJson, startServing, type ResponseBody, type ServingUnderTest } from './serving.test-kit';

const ARROW = 'application/vnd.apache.arrow.stream';
const hour = 3_600_000_000;
const version = (eventTimestamp: number, offset: number): RowVersion => ({
  eventTimestamp,
  createdTimestamp: null,
  position: { partition: 0, offset },
});

/** A JSON value of the Feast answer as the domain holds it, given the Arrow column's type. */
function fromJson(value: unknown, arrowType: string): unknown {
  if (value === null) return null;
  if (Array.isArray(value)) return value.map((item) => fromJson(item, arrowType.replace(/^List<(.*)>$/, '$1')));
  if (arrowType.startsWith('Timestamp')) return parseTimestampText(value as string);
  if (arrowType === 'Binary') return new Uint8Array(Buffer.from(value as string, 'base64'));
  if (arrowType === 'Float32') return Math.fround(value as number);
  if (arrowType === 'Int64' && typeof value === 'string') return Number(value);
  if (arrowType === 'Int64' && typeof value === 'number') return value;
  return value;
}

describe('POST /get-online-features answered in Arrow IPC (real Redis)', () => {
  let serving: ServingUnderTest;
  let endpoint: string;
  const now = Date.now() * 1_000;
  const read = { authorization: 'Bearer read-key' };

  before(async () => {
    serving = await startServing({
      maxEntityRows: 100,
      auth: { apiKeys: [{ name: 'model', key: 'read-key', scopes: ['read'] }] },
    });
    endpoint = `${serving.url}/get-online-features`;
    const { project } = serving;
    await serving.store.writeBatch({
      rows: [
        {
          project,
          entityKey: 'driver_id=1',
          view: 'driver_stats',
          version: version(now - 1_001, 1),
          features: { conv_rate: 0.5, acc_rate: Math.fround(4.9), trips: 10 },
        },
        {
          project,
          entityKey: 'driver_id=2',
          view: 'driver_stats',
          version: version(now - 2 * hour, 2),
          features: { conv_rate: null, acc_rate: 0.2, trips: 3 },
        },
        {
          project,
          entityKey: 'driver_id=4',
          view: 'driver_stats',
          version: version(now - 5_000, 5),
          features: { conv_rate: null, acc_rate: null, trips: 4 },
        },
        {
          project,
          entityKey: 'customer_id=c1',
          view: 'customer_profile',
          version: version(now - 100 * hour, 3),
          features: { name: 'Ann', tags: ['a', 'b'], avatar: new Uint8Array([1, 255]), vip: true, signed_up: 5 },
        },
        {
          project,
          entityKey: 'customer_id=c1|driver_id=1',
          view: 'driver_customer',
          version: version(now - hour, 4),
          features: { rides_together: 2, trips: 8 },
        },
      ],
    });
  });
  after(() => serving.close());

  const arrowOf = async (body: unknown) => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { ...read, 'content-type': 'application/json', accept: ARROW },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('content-type'), ARROW);
    return { table: tableFromIPC(new Uint8Array(await response.arrayBuffer())), headers: response.headers };
  };

  const requests = {
    'features, found and NOT_FOUND, NULL_VALUE and OUTSIDE_MAX_AGE': {
      features: ['driver_stats:conv_rate', 'driver_stats:acc_rate', 'driver_stats:trips'],
      entities: { driver_id: [1, 2, 3, 4, '1'] },
    },
    'every type, full feature names': {
      features: ['customer_profile:*'],
      entities: { customer_id: ['c1', 'nobody'] },
      full_feature_names: true,
    },
    'a service over two entities': {
      feature_service: 'ranking',
      entities: { driver_id: [1, 2], customer_id: ['c1', 'c1'] },
    },
    'a batch of 100': {
      features: ['driver_stats:trips'],
      entities: { driver_id: Array.from({ length: 100 }, (_, i) => i % 4) },
    },
  };

  for (const [name, request] of Object.entries(requests)) {
    it(`answers the JSON answer's values, statuses and times: ${name}`, async () => {
      const json = await postJson(endpoint, request, read);
      assert.equal(json.status, 200, JSON.stringify(json.body));
      const body = json.body as ResponseBody;
      if (name.startsWith('features, found')) {
        assert.deepEqual(body.results[1]!.statuses, [
          'PRESENT',
          'OUTSIDE_MAX_AGE',
          'NOT_FOUND',
          'NULL_VALUE',
          'PRESENT',
        ]);
      }
      const { table, headers } = await arrowOf(request);
      assert.equal(headers.get('x-featurelog-registry-version'), json.headers.get('x-featurelog-registry-version'));
      assert.equal(
        table.schema.metadata.get('featurelog.registry_version'),
        json.headers.get('x-featurelog-registry-version'),
      );
      const names = body.metadata.feature_names;
      const keys = Object.keys(request.entities);
      assert.deepEqual(
        table.schema.fields.map((field) => field.name),
        names.flatMap((column) =>
          keys.includes(column) ? [column] : [column, `${column}__status`, `${column}__event_timestamp`],
        ),
      );
      names.forEach((column, c) => {
        const field = table.schema.fields.find((candidate) => candidate.name === column)!;
        const got = arrowValues(table.getChild(column)!);
        const want = body.results[c]!.values.map((value) => fromJson(value, String(field.type)));
        assert.deepEqual(got, want, column);
        if (keys.includes(column)) return;
        assert.deepEqual(arrowValues(table.getChild(`${column}__status`)!), body.results[c]!.statuses, column);
        assert.equal(String(table.getChild(`${column}__event_timestamp`)!.type), 'Timestamp<MICROSECOND, UTC>');
        assert.deepEqual(
          arrowValues(table.getChild(`${column}__event_timestamp`)!),
          body.results[c]!.event_timestamps.map((time, row) =>
            body.results[c]!.statuses[row] === 'NOT_FOUND' ? null : parseTimestampText(time),
          ),
          column,
        );
      });
    });
  }

  it('types each column as its feature or join key', async () => {
    const { table } = await arrowOf(requests['every type, full feature names']);
    const types = Object.fromEntries(table.schema.fields.map((field) => [field.name, String(field.type)]));
    assert.deepEqual(types, {
      customer_id: 'Utf8',
      customer_profile__name: 'Utf8',
      customer_profile__name__status: 'Utf8',
      customer_profile__name__event_timestamp: 'Timestamp<MICROSECOND, UTC>',
      customer_profile__tags: 'List<Utf8>',
      customer_profile__tags__status: 'Utf8',
      customer_profile__tags__event_timestamp: 'Timestamp<MICROSECOND, UTC>',
      customer_profile__avatar: 'Binary',
      customer_profile__avatar__status: 'Utf8',
      customer_profile__avatar__event_timestamp: 'Timestamp<MICROSECOND, UTC>',
      customer_profile__vip: 'Bool',
      customer_profile__vip__status: 'Utf8',
      customer_profile__vip__event_timestamp: 'Timestamp<MICROSECOND, UTC>',
      customer_profile__signed_up: 'Timestamp<MICROSECOND, UTC>',
      customer_profile__signed_up__status: 'Utf8',
      customer_profile__signed_up__event_timestamp: 'Timestamp<MICROSECOND, UTC>',
    });
    const { table: drivers } = await arrowOf(requests['features, found and NOT_FOUND, NULL_VALUE and OUTSIDE_MAX_AGE']);
    assert.equal(String(drivers.getChild('driver_id')!.type), 'Int64');
    assert.equal(String(drivers.getChild('acc_rate')!.type), 'Float32');
  });

  it('stays JSON without Accept or for application/json; errors stay JSON; the key is checked first', async () => {
    const request = requests['a batch of 100'];
    for (const accept of [undefined, 'application/json', '*/*']) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { ...read, 'content-type': 'application/json', ...(accept === undefined ? {} : { accept }) },
        body: JSON.stringify(request),
      });
      assert.match(String(response.headers.get('content-type')), /^application\/json/, String(accept));
      await response.arrayBuffer();
    }
    const unknown = await fetch(endpoint, {
      method: 'POST',
      headers: { ...read, 'content-type': 'application/json', accept: ARROW },
      body: JSON.stringify({ features: ['driver_stats:nope'], entities: { driver_id: [1] } }),
    });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'UNKNOWN_FEATURE');
    const anonymous = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: ARROW },
      body: JSON.stringify(request),
    });
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();
  });
});
