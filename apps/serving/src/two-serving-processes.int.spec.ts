import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadProjectConfig } from '@featurelog/config';
import type { RowVersion } from '@featurelog/domain';
import type { OnlineRow } from '@featurelog/online-store';
import { ProjectRuntime } from '@featurelog/runtime';
import { servingTestDefinitions } from '@featurelog/serving/testing';
import { AppProcess, seededRandom, stackProjectYaml, uniqueName } from '@featurelog/testing';

/**
 * Two serving app processes over the same Redis and the same registry: a load balancer may send a
 * request to either, so they must answer alike, byte for byte. Nothing in an answer legitimately
 * differs between processes: no process id, request id or clock reading is in a body. (A status can
 * differ only for a row that crosses its view's TTL between the two reads; the rows here are far from it.)
 */

const ARROW = 'application/vnd.apache.arrow.stream';

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

async function ask(url: string, body: string, accept = 'application/json'): Promise<Answer> {
  const response = await fetch(`${url}/get-online-features`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept },
    body,
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body: Buffer.from(await response.arrayBuffer()),
  };
}

describe('two serving processes behind the same Redis and registry', () => {
  const now = Date.now() * 1_000;
  const minute = 60 * 1_000_000;
  let runtime: ProjectRuntime;
  let repoDir: string;
  const servers: AppProcess[] = [];

  before(async () => {
    const project = uniqueName('srv2').replace(/-/g, '_');
    repoDir = await mkdtemp(join(tmpdir(), 'two-serving-'));
    await writeFile(join(repoDir, 'featurelog.yaml'), stackProjectYaml(project));
    runtime = await ProjectRuntime.open(await loadProjectConfig(repoDir, { env: {} }));
    for (const spec of runtime.topics.project) await runtime.log.ensureTopic(spec);
    await runtime.registry().applier.apply(servingTestDefinitions());

    // Drivers 0..149 (every fifth one old enough to be OUTSIDE_MAX_AGE, every seventh with a null),
    // customers c0..c59, and pairs of both.
    const random = seededRandom(15);
    const version = (eventTimestamp: number, offset: number): RowVersion => ({
      eventTimestamp,
      createdTimestamp: null,
      position: { partition: 0, offset },
    });
    const rows: OnlineRow[] = [];
    for (let i = 0; i < 150; i++) {
      rows.push({
        project,
        entityKey: `driver_id=${i}`,
        view: 'driver_stats',
        version: version(i % 5 === 0 ? now - 180 * minute : now - 10 * minute, i),
        features: {
          conv_rate: i % 7 === 0 ? null : random(),
          acc_rate: Math.fround(random()),
          trips: Math.floor(random() * 10_000),
        },
      });
    }
    for (let i = 0; i < 60; i++) {
      rows.push({
        project,
        entityKey: `customer_id=c${i}`,
        view: 'customer_profile',
        version: version(now - 10 * minute, 1_000 + i),
        features: {
          name: `customer "${i}" ✓`,
          tags: i % 2 === 0 ? ['a', 'b'] : [],
          avatar: new Uint8Array([i, 255, 0]),
          vip: i % 3 === 0,
          signed_up: now - i * minute,
        },
      });
      rows.push({
        project,
        entityKey: `customer_id=c${i}|driver_id=${i}`,
        view: 'driver_customer',
        version: version(now - 10 * minute, 2_000 + i),
        features: { rides_together: i, trips: i * 3 },
      });
    }
    const store = await runtime.onlineStore();
    await store.writeBatch({ rows });

    for (let i = 0; i < 2; i++) {
      servers.push(new AppProcess('serving', () => ({ FEATURELOG_REPO: repoDir, FEATURELOG_SERVING_PORT: '0' })));
    }
    await Promise.all(servers.map((server) => server.start()));
  });

  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await runtime?.close();
    if (repoDir !== undefined) await rm(repoDir, { recursive: true, force: true });
  });

  const drivers = (count: number, from = 0) => Array.from({ length: count }, (_, i) => from + i);
  const requests: Array<{ name: string; body: string; status: number; accept?: string }> = [
    {
      name: 'batch of 1',
      body: JSON.stringify({
        features: ['driver_stats:conv_rate', 'driver_stats:trips'],
        entities: { driver_id: [3] },
      }),
      status: 200,
    },
    {
      name: 'batch of 100 (present, outside max age, null values)',
      body: JSON.stringify({
        features: ['driver_stats:conv_rate', 'driver_stats:acc_rate', 'driver_stats:trips'],
        entities: { driver_id: drivers(100) },
        full_feature_names: true,
      }),
      status: 200,
    },
    {
      name: 'batch of 100 as Arrow',
      body: JSON.stringify({
        features: ['driver_stats:conv_rate', 'driver_stats:trips', 'customer_profile:tags'],
        entities: { driver_id: drivers(100), customer_id: drivers(100).map((i) => `c${i % 70}`) },
      }),
      status: 200,
      accept: ARROW,
    },
    {
      name: 'a feature service over two entities',
      body: JSON.stringify({
        feature_service: 'ranking',
        entities: { driver_id: drivers(60), customer_id: drivers(60).map((i) => `c${i}`) },
      }),
      status: 200,
    },
    {
      name: 'missing entities',
      body: JSON.stringify({
        features: ['driver_stats:trips', 'customer_profile:name'],
        entities: { driver_id: ['150', '9999', '9007199254740993'], customer_id: ['nobody', 'c70', ''] },
      }),
      status: 200,
    },
    {
      name: 'bad input: a join key that is not an integer',
      body: JSON.stringify({ features: ['driver_stats:trips'], entities: { driver_id: ['1.0'] } }),
      status: 400,
    },
    {
      name: 'bad input: an unknown feature view',
      body: JSON.stringify({ features: ['no_such_view:trips'], entities: { driver_id: [1] } }),
      status: 404,
    },
    {
      name: 'bad input: an unknown feature service',
      body: JSON.stringify({ feature_service: 'no_such_service', entities: { driver_id: [1] } }),
      status: 404,
    },
    { name: 'bad input: not JSON', body: '{"features": [', status: 400 },
  ];

  for (const request of requests) {
    it(`answers alike, byte for byte: ${request.name}`, async () => {
      const [a, b] = await Promise.all(servers.map((server) => ask(server.url, request.body, request.accept)));
      assert.equal(a!.status, request.status, a!.body.toString().slice(0, 300));
      assert.equal(b!.status, a!.status);
      assert.equal(b!.contentType, a!.contentType);
      assert.ok(a!.body.length > 0);
      assert.ok(b!.body.equals(a!.body), `bodies differ:\n${a!.body.toString()}\n${b!.body.toString()}`);
      if (request.accept === ARROW) assert.match(a!.contentType, /arrow/);
      // The same process asked again answers the same: the comparison is not between two random answers.
      const again = await ask(servers[0]!.url, request.body, request.accept);
      assert.ok(again.body.equals(a!.body));
      if (process.env.FEATURELOG_TEST_VERBOSE) {
        const text = request.accept === ARROW ? `<${a!.body.length} bytes of Arrow>` : a!.body.toString();
        process.stderr.write(`${request.name}: ${a!.status} ${text.slice(0, 160)}\n`);
      }
    });
  }

  it('answers from the shared store: a row written now is served by both', async () => {
    const store = await runtime.onlineStore();
    const project = runtime.config.project;
    await store.writeBatch({
      rows: [
        {
          project,
          entityKey: 'driver_id=3',
          view: 'driver_stats',
          version: { eventTimestamp: now, createdTimestamp: null, position: { partition: 0, offset: 10_000 } },
          features: { conv_rate: 0.125, acc_rate: 0.5, trips: 4_242 },
        },
      ],
    });
    const body = JSON.stringify({ features: ['driver_stats:trips'], entities: { driver_id: [3] } });
    const answers = await Promise.all(servers.map((server) => ask(server.url, body)));
    for (const answer of answers) {
      const parsed = JSON.parse(answer.body.toString()) as { results: Array<{ values: unknown[] }> };
      assert.deepEqual(parsed.results[1]!.values, [4_242]);
    }
    assert.ok(answers[1]!.body.equals(answers[0]!.body));
  });
});
