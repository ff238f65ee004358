import type { TaggedDefinition } from './definitions';

/** The drivers example as domain definitions, for unit tests. A fresh copy per call, so tests can mutate it. */
export function driverDefinitions(): TaggedDefinition[] {
  return [
    {
      kind: 'entity',
      definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }], description: 'A driver' },
    },
    {
      kind: 'data_source',
      definition: {
        name: 'driver_events',
        kind: 'kafka',
        topic: 'rides.driver-events',
        timestampField: 'ts',
        fieldMapping: { conversion: 'conv_rate', driver: 'driver_id' },
      },
    },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_hourly_stats',
        version: 1,
        entities: ['driver'],
        features: [
          { name: 'conv_rate', type: 'float64' },
          { name: 'acc_rate', type: 'float64' },
          { name: 'avg_daily_trips', type: 'int64' },
        ],
        ttlSeconds: 7200,
        online: true,
        offline: true,
        tags: { team: 'rides' },
      },
    },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_live',
        version: 1,
        entities: ['driver'],
        features: [{ name: 'conv_rate', type: 'float64' }],
        ttlSeconds: 0,
        source: 'driver_events',
        online: true,
        offline: false,
      },
    },
    {
      kind: 'feature_service',
      definition: { name: 'driver_activity', features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:*'] },
    },
  ];
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a failing randomized test can be replayed by seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
