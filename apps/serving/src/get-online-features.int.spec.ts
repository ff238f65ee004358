import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RowVersion } from '@featurelog/domain';
import { postJson, startServing, type ServingUnderTest } from './serving.test-kit';

const hour = 3_600_000_000;
const version = (eventTimestamp: number, offset: number): RowVersion => ({
  eventTimestamp,
  createdTimestamp: null,
  position: { partition: 0, offset },
});

describe('POST /get-online-features over real Redis', () => {
  let serving: ServingUnderTest;
  let endpoint: string;
  const now = Date.now() * 1_000;

  before(async () => {
    serving = await startServing({
      maxEntityRows: 5,
      auth: {
        apiKeys: [
          { name: 'model', key: 'read-key', scopes: ['read'] },
          { name: 'ingest', key: 'push-key', scopes: ['push'] },
        ],
      },
    });
    endpoint = `${serving.url}/get-online-features`;
    const { project } = serving;
    await serving.store.writeBatch({
      rows: [
        {
          project,
          entityKey: 'driver_id=1',
          view: 'driver_stats',
          version: version(now - 1_000, 1),
          features: { conv_rate: 0.5, acc_rate: 0.25, trips: 10 },
        },
        {
          project,
          entityKey: 'driver_id=2',
          view: 'driver_stats',
          version: version(now - 2 * hour, 2),
          features: { conv_rate: 0.1, acc_rate: 0.2, trips: 3 },
        },
        {
          project,
          entityKey: 'customer_id=c1',
          view: 'customer_profile',
          version: version(now - 100 * hour, 3),
          features: { name: 'Ann', tags: ['a'], avatar: new Uint8Array([1]), vip: true, signed_up: 5 },
        },
        {
          project,
          // A null value, a float32 as Avro widens it (4.900000095367432), an int64 key past 2^53.
          entityKey: 'driver_id=9007199254740993',
          view: 'driver_stats',
          version: version(now - 2_000, 5),
          features: { conv_rate: null, acc_rate: Math.fround(4.9), trips: 11 },
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

  const read = { authorization: 'Bearer read-key' };

  it('answers PRESENT, OUTSIDE_MAX_AGE and NOT_FOUND in Feast shape', async () => {
    const { status, body, headers } = await postJson(
      endpoint,
      { features: ['driver_stats:conv_rate', 'driver_stats:trips'], entities: { driver_id: [1, 2, 3] } },
      read,
    );
    assert.equal(status, 200);
    assert.match(headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(body.metadata.feature_names, ['driver_id', 'conv_rate', 'trips']);
    assert.deepEqual(body.results[0]!.values, [1, 2, 3]);
    assert.deepEqual(body.results[1]!.values, [0.5, 0.1, null]);
    assert.deepEqual(body.results[1]!.statuses, ['PRESENT', 'OUTSIDE_MAX_AGE', 'NOT_FOUND']);
    assert.deepEqual(body.results[2]!.values, [10, 3, null]);
    assert.equal(body.results[2]!.event_timestamps[2], '1970-01-01T00:00:00Z');
  });

  it('answers NULL_VALUE, float32 as typed, timestamp features as RFC 3339, and integer keys given as strings', async () => {
    const { status, body } = await postJson(
      endpoint,
      {
        features: ['driver_stats:conv_rate', 'driver_stats:acc_rate', 'driver_stats:trips'],
        entities: { driver_id: ['9007199254740993', '2', 4] },
      },
      read,
    );
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body.results[0]!.values, ['9007199254740993', '2', 4]);
    assert.deepEqual(body.results[1]!.values, [null, 0.1, null]);
    assert.deepEqual(body.results[1]!.statuses, ['NULL_VALUE', 'OUTSIDE_MAX_AGE', 'NOT_FOUND']);
    assert.deepEqual(body.results[2]!.values, [4.9, 0.2, null]);
    assert.deepEqual(body.results[2]!.statuses, ['PRESENT', 'OUTSIDE_MAX_AGE', 'NOT_FOUND']);
    assert.deepEqual(body.results[3]!.values, [11, 3, null]);
    assert.equal(body.results[1]!.event_timestamps[0], new Date((now - 2_000) / 1_000).toISOString());

    const profile = await postJson(
      endpoint,
      { features: ['customer_profile:signed_up'], entities: { customer_id: ['c1'] } },
      read,
    );
    assert.deepEqual(profile.body.results[1]!.values, ['1970-01-01T00:00:00.000005Z']);

    const bad = await postJson(endpoint, { features: ['driver_stats:trips'], entities: { driver_id: ['1.0'] } }, read);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'INVALID_JOIN_KEY_VALUE');
    // 2^53 + 1 as a JSON number: the app reads it exactly (JSON.parse would make it 2^53, another
    // driver), serves that driver and echoes the number digit for digit.
    const exact = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...read },
      body: '{"features":["driver_stats:trips"],"entities":{"driver_id":[9007199254740993,9007199254740992]}}',
    });
    const exactText = await exact.text();
    assert.equal(exact.status, 200, exactText);
    assert.match(exactText, /"values":\[9007199254740993,9007199254740992\]/);
    assert.deepEqual((JSON.parse(exactText) as { results: Array<{ values: unknown[] }> }).results[1]!.values, [
      11,
      null,
    ]);
    assert.match(bad.body.message, /"entities"."driver_id"\[0\] must be an integer in int64 range.*got "1.0"/);
    const numberForString = await postJson(
      endpoint,
      { features: ['customer_profile:name'], entities: { customer_id: [1001] } },
      read,
    );
    assert.equal(numberForString.status, 400);
    assert.match(numberForString.body.message, /"customer_id".*send "1001", not 1001/);
  });

  it('serves a feature service over single- and multi-entity views (TTL 0 never expires)', async () => {
    const { status, body } = await postJson(
      endpoint,
      {
        feature_service: 'ranking',
        entities: { driver_id: [1, 2], customer_id: ['c1', 'c1'] },
        full_feature_names: true,
      },
      read,
    );
    assert.equal(status, 200);
    assert.deepEqual(body.metadata.feature_names, [
      'driver_id',
      'customer_id',
      'driver_stats__conv_rate',
      'driver_stats__acc_rate',
      'driver_stats__trips',
      'customer_profile__name',
      'customer_profile__vip',
      'driver_customer__rides_together',
    ]);
    assert.deepEqual(body.results[5]!.values, ['Ann', 'Ann']);
    assert.deepEqual(body.results[5]!.statuses, ['PRESENT', 'PRESENT']);
    assert.deepEqual(body.results[7]!.values, [2, null]);
    assert.deepEqual(body.results[7]!.statuses, ['PRESENT', 'NOT_FOUND']);
  });

  it('follows the registry live: a view applied now is served without restart', async () => {
    await serving.apply([
      {
        kind: 'feature_view',
        definition: {
          name: 'late',
          version: 1,
          entities: ['driver'],
          features: [{ name: 'x', type: 'int32' }],
          ttlSeconds: 0,
          online: true,
          offline: true,
        },
      },
    ]);
    const { status, body } = await postJson(endpoint, { features: ['late:x'], entities: { driver_id: [1] } }, read);
    assert.equal(status, 200);
    assert.deepEqual(body.results[1]!.statuses, ['NOT_FOUND']);
  });

  it('answers 401 without a valid key, 403 without the read scope', async () => {
    const request = { features: ['driver_stats:trips'], entities: { driver_id: [1] } };
    const missing = await postJson(endpoint, request);
    assert.equal(missing.status, 401);
    assert.equal(missing.body.code, 'UNAUTHENTICATED');
    assert.equal((await postJson(endpoint, request, { authorization: 'Bearer wrong' })).status, 401);
    const forbidden = await postJson(endpoint, request, { 'x-api-key': 'push-key' });
    assert.equal(forbidden.status, 403);
    assert.match(forbidden.body.message, /"ingest" does not have the "read" scope/);
    assert.doesNotMatch(JSON.stringify(forbidden.body), /push-key/);
    assert.equal((await postJson(endpoint, request, { 'x-api-key': 'read-key' })).status, 200);
  });

  it('answers each bad input with a 4xx naming the field or value, and keeps serving', async () => {
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ features: ['driver_stats:nope'], entities: { driver_id: [1] } }, 404, 'UNKNOWN_FEATURE', /"nope"/],
      [{ features: ['ghost:x'], entities: { driver_id: [1] } }, 404, 'UNKNOWN_FEATURE_VIEW', /"ghost"/],
      [{ feature_service: 'ghost', entities: { driver_id: [1] } }, 404, 'UNKNOWN_FEATURE_SERVICE', /"ghost"/],
      [{ features: ['driver_customer:trips'], entities: { driver_id: [1] } }, 400, 'MISSING_JOIN_KEY', /"customer_id"/],
      [{ features: ['driver_stats:trips'], entities: { driver: [1] } }, 400, 'UNEXPECTED_JOIN_KEY', /"driver"/],
      [
        { features: ['driver_stats:trips'], entities: { driver_id: ['one'] } },
        400,
        'INVALID_JOIN_KEY_VALUE',
        /"driver_id" is int64\), got "one"/,
      ],
      [
        { features: ['driver_customer:trips'], entities: { driver_id: [1, 2], customer_id: ['c1'] } },
        400,
        'INVALID_REQUEST',
        /"driver_id" has 2 values, "customer_id" has 1/,
      ],
      [
        { features: ['driver_stats:trips'], entities: { driver_id: [1, 2, 3, 4, 5, 6] } },
        413,
        'PAYLOAD_TOO_LARGE',
        /maxEntityRows = 5/,
      ],
      ['{"features": [', 400, 'HTTP_400', /not valid JSON/],
      ['', 400, 'HTTP_400', /cannot be empty/],
      ['[1]', 400, 'INVALID_REQUEST', /must be a JSON object/],
    ];
    for (const [body, status, code, message] of cases) {
      const response = await postJson(endpoint, body, read);
      assert.equal(response.status, status, `${JSON.stringify(body)} → ${JSON.stringify(response.body)}`);
      assert.equal(response.body.code, code);
      assert.match(response.body.message, message);
    }
    assert.equal(
      (await postJson(endpoint, { features: ['driver_stats:trips'], entities: { driver_id: [1] } }, read)).status,
      200,
    );
  });

  it('serves /health naming each dependency, /metrics with latency and status counts, and /docs, to a read key', async () => {
    const read = { headers: { authorization: 'Bearer read-key' } };
    const anonymous = await fetch(`${serving.url}/health`);
    assert.equal(anonymous.status, 200);
    assert.deepEqual(await anonymous.json(), { status: 'ok' }, 'without a key, the status alone');
    const health = await fetch(`${serving.url}/health`, read);
    assert.equal(health.status, 200);
    const report = (await health.json()) as { checks: Record<string, { status: string }> };
    assert.deepEqual(Object.keys(report.checks).sort(), ['log', 'online-store', 'registry']);
    assert.equal((await fetch(`${serving.url}/metrics`)).status, 401);
    const metrics = await (await fetch(`${serving.url}/metrics`, read)).text();
    const line = (name: string, ...labels: string[]) =>
      metrics.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)));
    assert.ok(
      line('featurelog_serving_request_duration_seconds_bucket', 'le="0.005"', 'endpoint="/get-online-features"'),
    );
    assert.match(
      line('featurelog_serving_requests_total', 'endpoint="/get-online-features"', 'status="401"') ?? '',
      / [1-9]\d*$/,
    );
    assert.match(
      line('featurelog_serving_requests_total', 'endpoint="/get-online-features"', 'status="413"') ?? '',
      / [1-9]\d*$/,
    );
    assert.match(line('featurelog_serving_feature_values_total', 'status="OUTSIDE_MAX_AGE"') ?? '', / [1-9]\d*$/);
    assert.match(line('featurelog_serving_feature_values_total', 'status="NULL_VALUE"') ?? '', / [1-9]\d*$/);
    assert.equal((await fetch(`${serving.url}/docs/json`)).status, 401);
    const docs = await fetch(`${serving.url}/docs/json`, read);
    assert.equal(docs.status, 200);
    const document = (await docs.json()) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    assert.ok(document.paths['/get-online-features']?.post?.requestBody, 'the request body is documented');
    assert.ok(document.paths['/subscribe']?.get);
    assert.equal((await fetch(`${serving.url}/docs`, read)).status, 200);
  });
});
