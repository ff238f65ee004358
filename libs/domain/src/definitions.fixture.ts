import type { FeatureViewDefinition, TaggedDefinition } from './definitions';

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
    driverHourlyStatsView({ tags: { team: 'rides' } }),
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

/** The example's `driver_hourly_stats` view (3 features over `driver`, TTL 2 h, online and offline), with `extra` on top. */
export function driverHourlyStatsView(extra: Partial<FeatureViewDefinition> = {}): TaggedDefinition {
  const features: FeatureViewDefinition['features'] = [];
  for (const [name, type] of HOURLY_FEATURES) features.push({ name, type });
  const definition = { name: 'driver_hourly_stats', version: 1, entities: ['driver'], features, ttlSeconds: 7200 };
  return { kind: 'feature_view', definition: { ...definition, online: true, offline: true, ...extra } };
}

const HOURLY_FEATURES = [
  ['conv_rate', 'float64'],
  ['acc_rate', 'float64'],
  ['avg_daily_trips', 'int64'],
] as const;
