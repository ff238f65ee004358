import { ClassicLevel } from 'classic-level';
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

/** A consumer's checkpoint: the next offset of each partition it read. */
export interface Layout1Checkpoint {
  consumer: string;
  offsets: Array<{ topic: string; partition: number; offset: number }>;
}

/** A checkpoint as a Redis store holds it: hash `<prefix>:__checkpoint:{<consumer>}`, field `<topic>:<partition>`. */
export async function writeLayout1Checkpoint(
  redis: Redis,
  { prefix = 'fl', consumer, offsets }: Layout1Checkpoint & { prefix?: string },
): Promise<void> {
  await redis.hset(
    `${prefix}:__checkpoint:{${consumer}}`,
    ...offsets.flatMap(({ topic, partition, offset }) => [`${topic}:${partition}`, String(offset)]),
  );
}

/**
 * Lays out an embedded store's folder (not open) as featurelog left it before ONLINE_LAYOUT 2, when
 * rows were JSON and the store had no layout mark (see level-online-store.adapter.ts):
 *
 *   `r\0<project>\0<view>\0<entityKey>` → `[event, created, partition, offset, { feature: stored text }]`
 *   `c\0<consumer>\0<topic>\0<partition>` → next offset
 */
export async function writeEmbeddedLayout1(
  path: string,
  { rows, checkpoint }: { rows: Layout1Row[]; checkpoint?: Layout1Checkpoint },
): Promise<void> {
  const db = new ClassicLevel<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  try {
    for (const { project, entityKey, view, version, features } of rows) {
      const { eventTimestamp, createdTimestamp, position } = version;
      const stored = Object.fromEntries(
        Object.entries(features).map(([name, value]) => [name, encodeStoredValue(value)]),
      );
      await db.put(
        `r\0${project}\0${view}\0${entityKey}`,
        JSON.stringify([eventTimestamp, createdTimestamp, position.partition, position.offset, stored]),
      );
    }
    for (const { topic, partition, offset } of checkpoint?.offsets ?? []) {
      await db.put(`c\0${checkpoint!.consumer}\0${topic}\0${partition}`, String(offset));
    }
  } finally {
    await db.close();
  }
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
