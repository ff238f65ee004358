import type { FeatureValue, RowVersion } from '@featurelog/domain';
import type Redis from 'ioredis';
import { encodeStoredValue } from './stored-feature-value';

/**
 * Lays out a row the way featurelog stored it before ONLINE_LAYOUT 2 (layout 1, never written by
 * production code any more), to test that a store left in it is detected and rebuilt:
 *
 *   hash `<prefix>:<project>:{<entityKey>}`, field `<view>:<feature>` → stored text per feature, and
 *   field `<view>:__v` → `<event 17><created 17><offset 16><partition 16><e|p>|<feature,feature,…>`
 */
export async function writeLayout1Row(
  redis: Redis,
  { prefix = 'fl', project, entityKey, view, version, features }: Layout1Row,
): Promise<void> {
  const names = Object.keys(features);
  const fields: string[] = [`${view}:__v`, `${layout1Version(version)}p|${names.join(',')}`];
  for (const name of names) fields.push(`${view}:${name}`, encodeStoredValue(features[name] ?? null));
  await redis.hset(`${prefix}:${project}:{${entityKey}}`, ...fields);
}

export interface Layout1Row {
  prefix?: string;
  project: string;
  entityKey: string;
  view: string;
  version: RowVersion;
  features: Record<string, FeatureValue>;
}

function layout1Version({ eventTimestamp, createdTimestamp, position }: RowVersion): string {
  const signed = (n: number) => (n >= 0 ? '1' + digits16(n) : '0' + digits16(n + 2 ** 53));
  return (
    signed(eventTimestamp) +
    (createdTimestamp === null ? '0'.repeat(17) : signed(createdTimestamp)) +
    digits16(position.offset) +
    digits16(position.partition)
  );
}

function digits16(n: number): string {
  return String(n).padStart(16, '0');
}
