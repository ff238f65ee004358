import type { FeatureValue, TaggedDefinition } from '@featurelog/domain';

/**
 * The online benches' ten driver features, one of each kind a row holds (counts, ratios, a float32,
 * a timestamp, a flag, a string, a large int), derived from `x` so that every entity differs.
 */
export function driverFeatures(x: number, lastTripAt: number): Record<string, FeatureValue> {
  return {
    trips_1h: x % 50,
    trips_24h: x % 1_000,
    revenue_24h: (x % 10_000) / 7,
    avg_rating: Math.fround(3 + (x % 200) / 100),
    acceptance_rate: (x % 997) / 997,
    distance_km: (x % 123_457) / 13,
    last_trip_at: lastTripAt,
    is_active: x % 3 !== 0,
    city: ['paris', 'são paulo', 'tokyo', 'new york'][x % 4]!,
    vehicle_id: 10_000_000_000 + x,
  };
}

/** The ten features' names and types, in the order driverFeatures gives them. */
export const DRIVER_FEATURE_TYPES: ReadonlyArray<
  readonly [string, 'int64' | 'float64' | 'float32' | 'timestamp' | 'bool' | 'string']
> = [
  ['trips_1h', 'int64'],
  ['trips_24h', 'int64'],
  ['revenue_24h', 'float64'],
  ['avg_rating', 'float32'],
  ['acceptance_rate', 'float64'],
  ['distance_km', 'float64'],
  ['last_trip_at', 'timestamp'],
  ['is_active', 'bool'],
  ['city', 'string'],
  ['vehicle_id', 'int64'],
];

/** The online benches' five views, each of the ten driver features. */
export const DRIVER_VIEWS = ['v0', 'v1', 'v2', 'v3', 'v4'];

/** The driver entity, the five views (TTL one day) and `svc50`, the service of all their features. */
export function driverDefinitions(): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
    ...DRIVER_VIEWS.map((name): TaggedDefinition => ({
      kind: 'feature_view',
      definition: {
        name,
        version: 1,
        entities: ['driver'],
        features: DRIVER_FEATURE_TYPES.map(([feature, type]) => ({ name: feature, type })),
        ttlSeconds: 86_400,
        online: true,
        offline: true,
      },
    })),
    { kind: 'feature_service', definition: { name: 'svc50', features: DRIVER_VIEWS.map((view) => `${view}:*`) } },
  ];
}
