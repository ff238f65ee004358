import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { FeaturelogError, type TaggedDefinition } from '@featurelog/domain';
import { FeaturelogExceptionFilter } from '@featurelog/observability';
import { PUSH_TO_HEADER, useExactJsonBodies } from '@featurelog/producer';
import {
  appliedProject,
  producerDefinitions,
  readTopic,
  topicRows,
  type AppliedProject,
} from '@featurelog/producer/testing';
import { PushModule } from './push.module';

const T0 = Date.UTC(2025, 2, 3, 4, 5, 6) * 1000;
const API_KEY = 'push-secret';

function definitions(): TaggedDefinition[] {
  return [
    ...producerDefinitions(),
    { kind: 'data_source', definition: { name: 'driver_push', kind: 'managed' } },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_push_a',
        version: 1,
        entities: ['driver'],
        features: [{ name: 'conv_rate', type: 'float64' }],
        ttlSeconds: 0,
        source: 'driver_push',
        online: true,
        offline: true,
      },
    },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_push_b',
        version: 1,
        entities: ['driver'],
        features: [{ name: 'city', type: 'string' }],
        ttlSeconds: 0,
        source: 'driver_push',
        online: true,
        offline: true,
      },
    },
  ];
}

/**
 * `POST /push` in a tiny Nest Fastify app over the PushModule, against the embedded log (unit) or
 * the stack's Kafka and schema registry (int). The same assertions run on both.
 */
export function pushEndpointSuite(kind: 'embedded' | 'kafka'): void {
  describe(`POST /push (PushModule on the ${kind} log)`, () => {
    let project: AppliedProject;
    let app: NestFastifyApplication;

    before(async () => {
      project = await appliedProject(kind, definitions());
      app = await NestFactory.create<NestFastifyApplication>(
        PushModule.forRoot({
          producer: project.producer,
          maxRows: 100,
          authorize: (headers) => {
            if (headers['x-api-key'] !== API_KEY) throw new FeaturelogError('FORBIDDEN', 'no push scope');
          },
        }),
        new FastifyAdapter(),
        { logger: false },
      );
      // As the serving app has it: the module's own filter must win for push errors; JSON read exactly.
      app.useGlobalFilters(new FeaturelogExceptionFilter());
      useExactJsonBodies(app);
      await app.init();
      await app.getHttpAdapter().getInstance().ready();
    });
    after(async () => {
      await app?.close();
      await project?.close();
    });

    async function push(payload: unknown, apiKey = API_KEY) {
      const response = await app.inject({
        method: 'POST',
        url: '/push',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
      return { status: response.statusCode, body: response.json() as Record<string, unknown> };
    }

    it('produces a row list to the view topic and answers 200 with the counts', async () => {
      const { status, body } = await push({
        view: 'driver_stats',
        rows: [
          { driver_id: 1, event_timestamp: '2025-03-03T04:05:06Z', conv_rate: 0.5, avatar: 'AP8=' },
          { driver_id: 2, event_timestamp: T0 + 1, city: 'Oslo', recent_fares: [1, 2.5] },
        ],
      });
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.produced, 2);
      assert.equal((body.views as Array<{ produced: number }>)[0]!.produced, 2);
      const rows = await topicRows(project, 'driver_stats');
      assert.equal(rows.length, 2);
      assert.equal(rows[0]!.event_timestamp, T0);
      assert.deepEqual([...(rows[0]!.avatar as Uint8Array)], [0, 255]);
      assert.deepEqual(rows[1]!.recent_fares, [1, 2.5]);
    });

    it('takes columnar df (Feast) and tags a push that is not for both stores', async () => {
      const { status, body } = await push({
        view: 'driver_stats',
        df: { driver_id: [10, 11, 12], event_timestamp: [T0, T0, T0], rating: [1, null, 3] },
        to: 'online',
      });
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual([body.produced, body.to], [3, 'online']);
      const topic = (body.views as Array<{ topic: string }>)[0]!.topic;
      const tagged = (await readTopic(project.runtime.log, topic)).filter((r) => r.headers[PUSH_TO_HEADER]);
      assert.deepEqual(
        tagged.map((r) => r.headers[PUSH_TO_HEADER]!.toString()),
        ['online', 'online', 'online'],
      );
    });

    it('feeds every view of a push source, each with its own columns', async () => {
      const { status, body } = await push({
        push_source_name: 'driver_push',
        rows: [{ driver_id: 5, event_timestamp: T0, conv_rate: 0.25, city: 'Lima' }],
      });
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.produced, 2);
      assert.deepEqual(
        (await topicRows(project, 'driver_push_a')).map((r) => r.conv_rate),
        [0.25],
      );
      assert.deepEqual(
        (await topicRows(project, 'driver_push_b')).map((r) => r.city),
        ['Lima'],
      );
    });

    it('answers 422 naming every bad row and field, and produces nothing', async () => {
      const before = (await topicRows(project, 'driver_stats')).length;
      const { status, body } = await push({
        view: 'driver_stats',
        rows: [
          { driver_id: 20, event_timestamp: T0 },
          { driver_id: 'x', event_timestamp: T0, conv_rate: 'high' },
          { driver_id: 22, event_timestamp: 'soon', conv_rte: 1 },
        ],
      });
      assert.equal(status, 422);
      assert.equal(body.code, 'INVALID_ROWS');
      assert.match(body.message as string, /rows\[1\]: driver_id must be a safe integer/);
      assert.deepEqual(
        (body.problems as Array<{ row: number; field: string }>).map((p) => `${p.row}.${p.field}`),
        ['1.driver_id', '1.conv_rate', '2.event_timestamp', '2.conv_rte'],
      );
      assert.equal((await topicRows(project, 'driver_stats')).length, before);
    });

    it('refuses an int64 beyond 2^53 naming the value sent, never a rounded neighbour', async () => {
      const before = (await topicRows(project, 'driver_stats')).length;
      const response = await app.inject({
        method: 'POST',
        url: '/push',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        // Written by hand: JSON.stringify of a JS number could not hold this value.
        payload: `{"view":"driver_stats","rows":[{"driver_id":9007199254740993,"event_timestamp":${T0}}]}`,
      });
      const body = response.json() as { code: string; message: string };
      assert.equal(response.statusCode, 422, JSON.stringify(body));
      assert.equal(body.code, 'INVALID_ROWS');
      assert.match(body.message, /driver_id must be a safe integer .*got bigint 9007199254740993\b/);
      assert.doesNotMatch(body.message, /9007199254740992/);
      assert.equal((await topicRows(project, 'driver_stats')).length, before);
      // A float feature takes the nearest double of a big integer, as it would of any number.
      const float = await app.inject({
        method: 'POST',
        url: '/push',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        payload: `{"view":"driver_stats","rows":[{"driver_id":30,"event_timestamp":${T0},"conv_rate":9007199254740993}]}`,
      });
      assert.equal(float.statusCode, 200, float.body);
      const malformed = await app.inject({
        method: 'POST',
        url: '/push',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        payload: '{"view":',
      });
      assert.equal(malformed.statusCode, 400);
    });

    it('answers 400 for a malformed body, 404 for an unknown view, 413 for too many rows, 403 without the scope', async () => {
      const cases: Array<[unknown, number, string]> = [
        [[1, 2], 400, 'INVALID_PUSH_REQUEST'],
        [{ view: 'driver_stats' }, 400, 'INVALID_PUSH_REQUEST'],
        [{ view: 'driver_stats', df: { driver_id: [1, 2], event_timestamp: [T0] } }, 400, 'INVALID_PUSH_REQUEST'],
        [{ view: 'driver_stats', rows: [], to: 'redis' }, 400, 'INVALID_PUSH_REQUEST'],
        [{ view: 'nope', rows: [] }, 404, 'UNKNOWN_FEATURE_VIEW'],
        [{ push_source_name: 'nope', rows: [] }, 404, 'UNKNOWN_PUSH_SOURCE'],
        [{ view: 'driver_live', rows: [{ driver_id: 1, event_timestamp: T0 }] }, 400, 'VIEW_NOT_PRODUCIBLE'],
        [
          {
            view: 'driver_stats',
            rows: Array.from({ length: 101 }, (_, i) => ({ driver_id: i, event_timestamp: T0 })),
          },
          413,
          'PAYLOAD_TOO_LARGE',
        ],
      ];
      for (const [payload, status, code] of cases) {
        const response = await push(payload);
        assert.deepEqual([response.status, response.body.code], [status, code], JSON.stringify(payload));
      }
      const forbidden = await push({ view: 'driver_stats', rows: [] }, 'wrong');
      assert.deepEqual([forbidden.status, forbidden.body.code], [403, 'FORBIDDEN']);
    });
  });
}
