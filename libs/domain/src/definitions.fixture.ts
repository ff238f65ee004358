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
