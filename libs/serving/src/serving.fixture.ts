import {
  evolveRegistry,
  initialRegistryState,
  type FeatureViewDefinition,
  type RegistryChangeset,
  type RegistryState,
  type TaggedDefinition,
} from '@featurelog/domain';

/**
 * Definitions the serving tests and the bench share: a driver view (TTL 1 h), a customer view with
 * every awkward type (no TTL), a view over both entities, and a service across all three.
 */
export function servingTestDefinitions(): TaggedDefinition[] {
  const view = (definition: Omit<FeatureViewDefinition, 'version' | 'online' | 'offline'>): TaggedDefinition => ({
    kind: 'feature_view',
    definition: { version: 1, online: true, offline: true, ...definition },
  });
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
    { kind: 'entity', definition: { name: 'customer', joinKeys: [{ name: 'customer_id', type: 'string' }] } },
    view({
      name: 'driver_stats',
      entities: ['driver'],
      ttlSeconds: 3600,
      features: [
        { name: 'conv_rate', type: 'float64' },
        { name: 'acc_rate', type: 'float32' },
        { name: 'trips', type: 'int64' },
      ],
    }),
    view({
      name: 'customer_profile',
      entities: ['customer'],
      ttlSeconds: 0,
      features: [
        { name: 'name', type: 'string' },
        { name: 'tags', type: 'list<string>' },
        { name: 'avatar', type: 'bytes' },
        { name: 'vip', type: 'bool' },
        { name: 'signed_up', type: 'timestamp' },
      ],
    }),
    view({
      name: 'driver_customer',
      entities: ['driver', 'customer'],
      ttlSeconds: 86_400,
      features: [
        { name: 'rides_together', type: 'int32' },
        { name: 'trips', type: 'int64' },
      ],
    }),
    {
      kind: 'feature_service',
      definition: {
        name: 'ranking',
        features: ['driver_stats:*', 'customer_profile:name', 'customer_profile:vip', 'driver_customer:rides_together'],
      },
    },
  ];
}

/** One changeset that upserts every definition, based on `basedOnVersion`. */
export function upsertChangeset(definitions: readonly TaggedDefinition[], basedOnVersion = 0): RegistryChangeset {
  return {
    applyId: `apply-${basedOnVersion}-${definitions.length}-${Math.random().toString(36).slice(2)}`,
    basedOnVersion,
    appliedAt: Date.now() * 1_000,
    changes: definitions.map(({ kind, definition }) => ({ op: 'upsert', kind, name: definition.name, definition })),
  };
}

/** The registry holding exactly these definitions (one accepted apply at offset 0). */
export function registryOf(definitions: readonly TaggedDefinition[]): RegistryState {
  return evolveRegistry(initialRegistryState(), upsertChangeset(definitions), 0);
}
