import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { avroType, encodeRow, LocalSchemaRegistry, type AvroSchema } from '@featurelog/avro';
import { encodeEntityKey, topicNames, valueSubject, type FeatureValue } from '@featurelog/domain';
import { DEMO_VIEW, runCli } from './demo';

/** An API key of featurelog.yaml, its value read from `variable` (never written in the file). */
export interface RepoKey {
  name: string;
  variable: string;
  scopes: readonly string[];
}

/** `featurelog init` of the example into `repo` (from `parent`), with these keys in featurelog.yaml. */
export async function initRepoWithKeys(repo: string, parent: string, keys: readonly RepoKey[]): Promise<void> {
  const init = await runCli(['init', repo], parent);
  if (init.code !== 0) throw new Error(`featurelog init ${repo} failed (${init.code}): ${init.stderr}`);
  const lines = keys.map(
    ({ name, variable, scopes }) => `    - { name: ${name}, key: "\${${variable}}", scopes: [${scopes.join(', ')}] }`,
  );
  await appendFile(join(repo, 'featurelog.yaml'), ['', 'serving:', '  apiKeys:', ...lines, ''].join('\n'));
}

/**
 * A row of the demo view as a producer writes it with a schema id the project's schema registry does
 * not know (it registered its newer schema elsewhere, or the registry lost it): the poison of the
 * dead-letter tests. Registering `producerSchema` under `subject` then gives it exactly `unknownId`:
 * the fix a redrive waits for.
 */
export async function unknownSchemaPoison(
  repoDir: string,
  row: Record<string, FeatureValue>,
): Promise<{
  topic: string;
  subject: string;
  schemas: LocalSchemaRegistry;
  producerSchema: AvroSchema;
  unknownId: number;
  record: { key: Buffer; value: Buffer };
}> {
  const topic = topicNames.features('drivers', { name: DEMO_VIEW, version: 1 });
  const subject = valueSubject(topic);
  const schemas = await LocalSchemaRegistry.open({ directory: join(repoDir, '.featurelog', 'schemas') });
  const rowSchema = (await schemas.latestVersion(subject))!.schema as { fields: object[] };
  const producerSchema = {
    ...rowSchema,
    fields: [...rowSchema.fields, { name: 'source_app', type: ['null', 'string'], default: null }],
  } as AvroSchema;
  const ids: number[] = [];
  for (const each of await schemas.listSubjects()) ids.push((await schemas.latestVersion(each))!.id);
  const unknownId = Math.max(...ids) + 1;
  const key = Buffer.from(encodeEntityKey([{ name: 'driver_id', type: 'int64' }], row));
  return {
    topic,
    subject,
    schemas,
    producerSchema,
    unknownId,
    record: { key, value: encodeRow(unknownId, avroType(producerSchema), row) },
  };
}
