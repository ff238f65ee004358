import type { FeatureValue } from '@featurelog/domain';

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
