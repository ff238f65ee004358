import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalSchemaRegistry } from './local-schema-registry.adapter';
import { schemaRegistryContract } from './schema-registry.contract';

const directories: string[] = [];
async function freshDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'featurelog-schemas-'));
  directories.push(directory);
  return directory;
}
after(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

schemaRegistryContract('local schema store', async () => {
  const directory = await freshDirectory();
  return {
    registry: await LocalSchemaRegistry.open({ directory }),
    reopen: () => LocalSchemaRegistry.open({ directory }),
  };
});

const record = (field: string) => ({
  type: 'record',
  name: 'r',
  fields: [{ name: field, type: ['null', 'string'], default: null }],
});

describe('LocalSchemaRegistry', () => {
  it('gives the same schema the same global id in every subject, and new schemas the next id', async () => {
    const registry = await LocalSchemaRegistry.open({ directory: await freshDirectory() });
    const a = await registry.register('a-value', record('x'));
    assert.equal(await registry.register('b-value', record('x')), a);
    assert.equal(
      await registry.register('b-value', { ...record('x'), fields: [...record('x').fields, ...record('y').fields] }),
      a + 1,
    );
    assert.deepEqual(await registry.latestVersion('b-value').then((latest) => latest?.version), 2);
  });

  it('folds each line once when two refreshes read the same bytes, and still sees later schemas', async () => {
    const directory = await freshDirectory();
    const writer = await LocalSchemaRegistry.open({ directory });
    // The first refresh is held between its read and its fold until the second one has folded the same bytes.
    let holdFirst: (() => void) | undefined;
    let firstHeld!: () => void;
    const held = new Promise<void>((resolve) => (firstHeld = resolve));
    let folds = 0;
    const reader = await LocalSchemaRegistry.open({
      directory,
      beforeFold: () => {
        if (++folds > 1) return Promise.resolve();
        firstHeld();
        return new Promise<void>((resolve) => (holdFirst = resolve));
      },
    });
    folds = 0; // open's own refresh read an empty store
    const first = await writer.register('features-value', {
      ...record('a'),
      fields: [...record('a').fields, ...record('long_field_name_to_make_this_line_longer').fields],
    });
    const slow = reader.getSchema(first);
    await Promise.race([held, slow.then(() => assert.fail('the refresh never reached the beforeFold seam'))]);
    assert.ok((await reader.getSchema(first)) !== undefined, 'the second refresh folds the line');
    holdFirst!();
    await slow;
    // A shorter line than the first: a read offset advanced twice would point past the end of the file.
    const second = await writer.register('other-value', record('b'));
    assert.deepEqual(await reader.getSchema(second), record('b'));
    assert.equal((await reader.latestVersion('features-value'))?.version, 1);
    const versions = (reader as unknown as { versions: Map<string, unknown[]> }).versions;
    assert.equal(versions.get('features-value')?.length, 1, 'the line was folded once');
  });

  it('sees what another process appended, and assigns ids without clashing', async () => {
    const directory = await freshDirectory();
    const [first, second] = await Promise.all([
      LocalSchemaRegistry.open({ directory }),
      LocalSchemaRegistry.open({ directory }),
    ]);
    const ids = await Promise.all([
      first.register('s1', record('a')),
      second.register('s2', record('b')),
      first.register('s3', record('c')),
    ]);
    assert.deepEqual([...ids].sort(), [1, 2, 3]);
    assert.deepEqual(await first.getSchema(ids[1]), record('b'));
    assert.deepEqual(await second.listSubjects(), ['s1', 's2', 's3']);
  });

  it('cuts off a line torn by a crash, and takes over a lock left by a dead process', async () => {
    const directory = await freshDirectory();
    const registry = await LocalSchemaRegistry.open({ directory });
    await registry.register('s', record('a'));
    await appendFile(join(directory, 'schemas.jsonl'), '{"kind":"schema","id":2,"sub');
    await writeFile(join(directory, 'schemas.lock'), '999999999');
    const reopened = await LocalSchemaRegistry.open({ directory, lockTimeoutMs: 1_000 });
    assert.equal(await reopened.register('t', record('b')), 2);
    const lines = (await readFile(join(directory, 'schemas.jsonl'), 'utf8')).trim().split('\n');
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { id: number }).id),
      [1, 2],
    );
  });

  it('refuses a schema that does not parse', async () => {
    const registry = await LocalSchemaRegistry.open({ directory: await freshDirectory() });
    await assert.rejects(registry.register('s', { type: 'record', name: 'r' }), { code: 'AVRO_SCHEMA_INVALID' });
  });
});
