import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniqueName } from '@featurelog/testing';
import { ConfluentSchemaRegistry } from './confluent-schema-registry.adapter';
import { RegistryChangesetSerde } from './registry-changeset';
import { schemaRegistryContract } from './schema-registry.contract';

const url = process.env.FEATURELOG_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

schemaRegistryContract(`Confluent HTTP at ${url}`, async () => ({ registry: new ConfluentSchemaRegistry({ url }) }));

describe('ConfluentSchemaRegistry', () => {
  it('answers from its cache once an id is known, ids being immutable', async () => {
    const registry = new ConfluentSchemaRegistry({ url });
    const schema = { type: 'record', name: 'cached', fields: [{ name: 'x', type: 'long' }] };
    const id = await registry.register(`${uniqueName('cache')}-value`, schema);
    const offline = new ConfluentSchemaRegistry({ url: 'http://127.0.0.1:9' });
    await assert.rejects(offline.getSchema(id), { code: 'SCHEMA_REGISTRY_UNAVAILABLE', retriable: true });
    assert.deepEqual(await registry.getSchema(id), schema);
  });

  it('sets BACKWARD on a new subject, so the registry itself refuses breaking changes too', async () => {
    const registry = new ConfluentSchemaRegistry({ url });
    const subject = `${uniqueName('enforced')}-value`;
    await registry.register(subject, { type: 'record', name: 'r', fields: [{ name: 'a', type: 'double' }] });
    const bypassing = await fetch(`${url}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({
        schema: JSON.stringify({ type: 'record', name: 'r', fields: [{ name: 'a', type: 'string' }] }),
      }),
    });
    assert.equal(bypassing.status, 409);
    const check = await registry.checkCompatibility(subject, {
      type: 'record',
      name: 'r',
      fields: [{ name: 'a', type: 'string' }],
    });
    assert.deepEqual(check.messages[0], "field 'a' changed type from double to string");
    assert.match(check.messages[1] ?? '', /^registry: /);
  });

  it('registers the registry changeset schema and round-trips a changeset through it', async () => {
    const registry = new ConfluentSchemaRegistry({ url });
    const project = uniqueName('changesets');
    const changeset = {
      applyId: 'a1',
      basedOnVersion: 0,
      appliedAt: 1_700_000_000_000_000,
      changes: [
        {
          op: 'upsert' as const,
          kind: 'entity' as const,
          name: 'driver',
          definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' as const }] },
        },
      ],
    };
    const framed = await new RegistryChangesetSerde(registry, project).encode(changeset);
    // A fresh serde knows nothing: it must fetch the writer schema by id from the registry.
    assert.deepEqual(
      await new RegistryChangesetSerde(new ConfluentSchemaRegistry({ url }), project).decode(framed),
      changeset,
    );
    assert.ok((await registry.listSubjects()).includes(`${project}.registry-value`));
  });

  it('reports a wrong base URL loudly rather than as an unknown subject', async () => {
    const registry = new ConfluentSchemaRegistry({ url: `${url}/not-the-api` });
    await assert.rejects(registry.listSubjects(), (error: { code?: string }) => error.code !== undefined);
  });
});
