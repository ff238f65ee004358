import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryChangeset } from '@featurelog/domain';
import { avroType } from './avro-type';
import { checkBackwardCompatible } from './backward-compatibility';
import { LocalSchemaRegistry } from './local-schema-registry.adapter';
import {
  decodeRegistryChangeset,
  encodeRegistryChangeset,
  REGISTRY_CHANGESET_SCHEMA,
  registryChangesetSubject,
  RegistryChangesetSerde,
} from './registry-changeset';
import { RowDecoder } from './row-serde';
import { encodeEnvelope, decodeEnvelope } from './wire-format';

/** Every kind of definition, every optional member set somewhere and left out somewhere else. */
const changeset: RegistryChangeset = {
  applyId: '6f1c7f2e-1d7a-4c1e-9a51-3f3f0d1f4b1a',
  basedOnVersion: 41,
  appliedAt: 1_700_000_000_123_456,
  author: 'ana@example.com',
  changes: [
    {
      op: 'upsert',
      kind: 'entity',
      name: 'driver',
      definition: {
        name: 'driver',
        joinKeys: [{ name: 'driver_id', type: 'int64' }],
        description: 'A driver',
        tags: { team: 'rides' },
        owner: 'ana',
      },
    },
    { op: 'upsert', kind: 'data_source', name: 'own', definition: { name: 'own', kind: 'managed' } },
    {
      op: 'upsert',
      kind: 'data_source',
      name: 'trips',
      definition: {
        name: 'trips',
        kind: 'kafka',
        topic: 'backend.trips',
        subject: 'backend.trips-value',
        timestampField: 'ts',
        createdTimestampField: 'ingested',
        fieldMapping: { trip_driver: 'driver_id' },
        description: 'From the backend',
      },
    },
    {
      op: 'upsert',
      kind: 'data_source',
      name: 'orders_cdc',
      definition: {
        name: 'orders_cdc',
        kind: 'kafka',
        topic: 'pg.public.orders',
        format: 'debezium',
        timestampField: 'source.ts_ms',
      },
    },
    {
      op: 'upsert',
      kind: 'data_source',
      name: 'history',
      definition: {
        name: 'history',
        kind: 'file',
        path: 'data/history.parquet',
        format: 'parquet',
        timestampField: 'event_ts',
        tags: {},
      },
    },
    {
      op: 'upsert',
      kind: 'feature_view',
      name: 'driver_stats',
      definition: {
        name: 'driver_stats',
        version: 2,
        entities: ['driver'],
        features: [
          { name: 'conv_rate', type: 'float64', description: 'Conversion', tags: { pii: 'no' } },
          { name: 'embedding', type: 'list<float32>' },
        ],
        ttlSeconds: 86_400,
        source: 'trips',
        online: true,
        offline: false,
        partitions: 12,
        owner: 'ml',
      },
    },
    {
      op: 'upsert',
      kind: 'feature_service',
      name: 'ranking',
      definition: { name: 'ranking', features: ['driver_stats:*', 'driver_stats:conv_rate'] },
    },
    { op: 'delete', kind: 'feature_view', name: 'old_view' },
  ],
};

const decoderFor = (schemaId: number) =>
  new RowDecoder({
    getSchema: async (id) => (id === schemaId ? REGISTRY_CHANGESET_SCHEMA : Promise.reject(new Error(`no ${id}`))),
  });

const directories: string[] = [];
after(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

describe('registry changeset serde', () => {
  it('round-trips every kind of definition exactly, absent members staying absent', async () => {
    const framed = encodeRegistryChangeset(5, changeset);
    assert.equal(decodeEnvelope(framed).schemaId, 5);
    const decoded = await decodeRegistryChangeset(framed, decoderFor(5));
    assert.deepEqual(decoded, changeset);
    const { author: _author, ...anonymous } = changeset;
    assert.deepEqual(await decodeRegistryChangeset(encodeRegistryChangeset(5, anonymous), decoderFor(5)), anonymous);
  });

  it('keeps definitions as Avro records, not JSON strings', () => {
    const value = avroType(REGISTRY_CHANGESET_SCHEMA).fromBuffer(
      decodeEnvelope(encodeRegistryChangeset(1, changeset)).body,
    ) as {
      changes: { definition: Record<string, { joinKeys?: unknown }> | null }[];
    };
    assert.deepEqual(value.changes[0]!.definition!['featurelog.registry.EntityDefinition']!.joinKeys, [
      { name: 'driver_id', type: 'int64' },
    ]);
    assert.deepEqual(Object.keys(value.changes[2]!.definition!), ['featurelog.registry.KafkaDataSource']);
  });

  it('refuses a change whose kind and definition disagree', async () => {
    const type = avroType(REGISTRY_CHANGESET_SCHEMA);
    const body = type.toBuffer({
      applyId: 'a',
      basedOnVersion: 0,
      appliedAt: 0,
      author: null,
      changes: [
        {
          op: 'UPSERT',
          kind: 'FEATURE_VIEW',
          name: 'x',
          definition: {
            'featurelog.registry.ManagedDataSource': { name: 'x', description: null, tags: null, owner: null },
          },
        },
      ],
    });
    await assert.rejects(decodeRegistryChangeset(encodeEnvelope(1, body), decoderFor(1)), {
      code: 'REGISTRY_CHANGESET_MALFORMED',
      message: /FEATURE_VIEW.*ManagedDataSource/,
    });
  });

  it('reads changesets written with an older schema version', async () => {
    const older = structuredClone(REGISTRY_CHANGESET_SCHEMA) as unknown as { fields: { name: string }[] };
    older.fields = older.fields.filter((field) => field.name !== 'author');
    assert.deepEqual(checkBackwardCompatible(older, REGISTRY_CHANGESET_SCHEMA), []);
    const { author: _author, ...withoutAuthor } = changeset;
    const body = avroType(older).toBuffer(
      avroType(REGISTRY_CHANGESET_SCHEMA).fromBuffer(decodeEnvelope(encodeRegistryChangeset(1, changeset)).body),
    );
    const decoder = new RowDecoder({ getSchema: async () => older });
    assert.deepEqual(await decodeRegistryChangeset(encodeEnvelope(9, body), decoder), withoutAuthor);
  });

  it('registers under <project>.registry-value and frames with that id', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'featurelog-changeset-'));
    directories.push(directory);
    const registry = await LocalSchemaRegistry.open({ directory });
    await registry.register('other-value', { type: 'record', name: 'other', fields: [] });
    const serde = new RegistryChangesetSerde(registry, 'shop');
    const framed = await serde.encode(changeset);
    assert.equal(registryChangesetSubject('shop'), 'shop.registry-value');
    assert.equal(decodeEnvelope(framed).schemaId, (await registry.latestVersion('shop.registry-value'))?.id);
    assert.deepEqual(await new RegistryChangesetSerde(registry, 'shop').decode(framed), changeset);
  });

  it('ships the same schema as schemas/registry-changeset.avsc', async () => {
    const file = await readFile(join(__dirname, 'schemas', 'registry-changeset.avsc'), 'utf8');
    assert.deepEqual(JSON.parse(file), REGISTRY_CHANGESET_SCHEMA);
  });
});

describe('registry changeset serde: connectors', () => {
  const secret = 'pg-secret-value-1234';
  const withConnector: RegistryChangeset = {
    applyId: 'c0ffee00-0000-4000-8000-000000000001',
    basedOnVersion: 3,
    appliedAt: 1_700_000_000_000_000,
    changes: [
      {
        op: 'upsert',
        kind: 'connector',
        name: 'orders_cdc',
        definition: {
          name: 'orders_cdc',
          worker: 'default',
          connectorClass: 'io.debezium.connector.postgresql.PostgresConnector',
          config: { 'database.password': '${PG_PASSWORD}', 'tasks.max': '1' },
          state: 'paused',
          owner: 'data',
        },
      },
      { op: 'delete', kind: 'connector', name: 'old_cdc' },
    ],
  };

  it('round-trips a connector, and its stored bytes hold the reference, never the secret', async () => {
    const previous = process.env.PG_PASSWORD;
    process.env.PG_PASSWORD = secret;
    try {
      const framed = encodeRegistryChangeset(7, withConnector);
      assert.deepEqual(await decodeRegistryChangeset(framed, decoderFor(7)), withConnector);
      assert.ok(framed.includes(Buffer.from('${PG_PASSWORD}')), 'the reference is stored');
      assert.ok(!framed.includes(Buffer.from(secret)), 'the secret is not');
    } finally {
      if (previous === undefined) delete process.env.PG_PASSWORD;
      else process.env.PG_PASSWORD = previous;
    }
  });

  it('reads the registry logs written before connectors existed', () => {
    type Schema = { fields: Array<{ name: string; type: unknown }> };
    const older = structuredClone(REGISTRY_CHANGESET_SCHEMA) as unknown as Schema;
    const change = (older.fields.find((f) => f.name === 'changes')!.type as { items: Schema }).items;
    const kind = change.fields.find((f) => f.name === 'kind')!.type as { symbols: string[] };
    kind.symbols = kind.symbols.filter((s) => s !== 'CONNECTOR');
    const definition = change.fields.find((f) => f.name === 'definition')!;
    definition.type = (definition.type as Array<{ name?: string }>).filter((b) => b.name !== 'ConnectorDefinition');
    assert.deepEqual(checkBackwardCompatible(older, REGISTRY_CHANGESET_SCHEMA), []);
  });
});
