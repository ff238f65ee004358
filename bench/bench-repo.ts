import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackEnv, uniqueName } from '@featurelog/testing';

/**
 * A fresh feature repo (featurelog.yaml only, under a unique project name) whose log and schema
 * registry are the embedded ones (`file`) or the stack's Kafka and schema registry (`kafka`); online
 * and offline stores embedded under `data/`. For benches that compare the two logs.
 */
export async function benchFeatureRepo(
  kind: 'file' | 'kafka',
  prefix: string,
): Promise<{ dir: string; project: string }> {
  const dir = await mkdtemp(join(tmpdir(), `featurelog-bench-${prefix}-${kind}-`));
  const project = uniqueName('bench').replace(/-/g, '_');
  const env = stackEnv();
  const settings =
    kind === 'file'
      ? ['log: { type: embedded, path: data/log }', 'schemaRegistry: { type: embedded, path: data/schemas }']
      : [
          `log: { type: kafka, brokers: "${env.kafkaBrokers.join(',')}" }`,
          `schemaRegistry: { type: confluent, url: "${env.schemaRegistryUrl}" }`,
        ];
  await writeFile(
    join(dir, 'featurelog.yaml'),
    [
      `project: ${project}`,
      ...settings,
      'onlineStore: { type: embedded, path: data/online }',
      'offlineStore: { type: local, path: data/offline }',
      '',
    ].join('\n'),
  );
  return { dir, project };
}
