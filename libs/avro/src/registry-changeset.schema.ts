/**
 * The Avro schema of a registry changeset, the value of every event on `<project>.registry`.
 * The same text is in schemas/registry-changeset.avsc for other tools; a unit test keeps them equal.
 * Definitions are real records (not JSON strings), mirroring libs/domain definitions.ts exactly;
 * optional members are nullable with default null, so later additions stay backward compatible.
 */
const nullableString = { type: ['null', 'string'], default: null };
const tags = { name: 'tags', type: ['null', { type: 'map', values: 'string' }], default: null };
const described = [{ name: 'description', ...nullableString }, tags, { name: 'owner', ...nullableString }];
const fieldMapping = { name: 'fieldMapping', type: ['null', { type: 'map', values: 'string' }], default: null };

export const REGISTRY_CHANGESET_SCHEMA = {
  type: 'record',
  name: 'RegistryChangeset',
  namespace: 'featurelog.registry',
  doc: 'One apply: all of its changes take effect together, or none (see libs/domain registry-state.ts).',
  fields: [
    { name: 'applyId', type: 'string' },
    { name: 'basedOnVersion', type: 'long' },
    { name: 'appliedAt', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'author', ...nullableString },
    {
      name: 'changes',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'RegistryChange',
          fields: [
            { name: 'op', type: { type: 'enum', name: 'ChangeOp', symbols: ['UPSERT', 'DELETE'] } },
            {
              name: 'kind',
              type: {
                type: 'enum',
                name: 'DefinitionKind',
                symbols: ['ENTITY', 'DATA_SOURCE', 'FEATURE_VIEW', 'FEATURE_SERVICE', 'CONNECTOR'],
              },
            },
            { name: 'name', type: 'string' },
            {
              name: 'definition',
              doc: 'The new definition for UPSERT; null for DELETE.',
              type: [
                'null',
                {
                  type: 'record',
                  name: 'EntityDefinition',
                  fields: [
                    { name: 'name', type: 'string' },
                    {
                      name: 'joinKeys',
                      type: {
                        type: 'array',
                        items: {
                          type: 'record',
                          name: 'JoinKey',
                          fields: [
                            { name: 'name', type: 'string' },
                            {
                              name: 'type',
                              type: {
                                type: 'enum',
                                name: 'ScalarType',
                                symbols: [
                                  'bool',
                                  'int32',
                                  'int64',
                                  'float32',
                                  'float64',
                                  'string',
                                  'bytes',
                                  'timestamp',
                                ],
                              },
                            },
                          ],
                        },
                      },
                    },
                    ...described,
                  ],
                },
                {
                  type: 'record',
                  name: 'ManagedDataSource',
                  doc: "The view's own topic <project>.features.<view>.",
                  fields: [{ name: 'name', type: 'string' }, ...described],
                },
                {
                  type: 'record',
                  name: 'KafkaDataSource',
                  doc: 'An existing topic that backend apps or Kafka Connect produce.',
                  fields: [
                    { name: 'name', type: 'string' },
                    { name: 'topic', type: 'string' },
                    {
                      name: 'format',
                      doc: 'A KafkaSourceFormat (avro, connect-json, json, debezium, debezium-unwrapped); null is avro.',
                      ...nullableString,
                    },
                    { name: 'subject', ...nullableString },
                    { name: 'timestampField', type: 'string' },
                    { name: 'createdTimestampField', ...nullableString },
                    fieldMapping,
                    ...described,
                  ],
                },
                {
                  type: 'record',
                  name: 'FileDataSource',
                  doc: 'A Parquet or CSV file, read by featurelog ingest.',
                  fields: [
                    { name: 'name', type: 'string' },
                    { name: 'path', type: 'string' },
                    { name: 'format', type: { type: 'enum', name: 'FileFormat', symbols: ['parquet', 'csv'] } },
                    { name: 'timestampField', type: 'string' },
                    { name: 'createdTimestampField', ...nullableString },
                    fieldMapping,
                    ...described,
                  ],
                },
                {
                  type: 'record',
                  name: 'FeatureViewDefinition',
                  fields: [
                    { name: 'name', type: 'string' },
                    { name: 'version', type: 'int' },
                    { name: 'entities', type: { type: 'array', items: 'string' } },
                    {
                      name: 'features',
                      type: {
                        type: 'array',
                        items: {
                          type: 'record',
                          name: 'FeatureDefinition',
                          fields: [
                            { name: 'name', type: 'string' },
                            { name: 'type', type: 'string', doc: 'A ValueType: a scalar type name or list<scalar>.' },
                            { name: 'description', ...nullableString },
                            tags,
                          ],
                        },
                      },
                    },
                    { name: 'ttlSeconds', type: 'long' },
                    { name: 'source', ...nullableString },
                    { name: 'online', type: 'boolean' },
                    { name: 'offline', type: 'boolean' },
                    { name: 'partitions', type: ['null', 'int'], default: null },
                    ...described,
                  ],
                },
                {
                  type: 'record',
                  name: 'FeatureServiceDefinition',
                  fields: [
                    { name: 'name', type: 'string' },
                    { name: 'features', type: { type: 'array', items: 'string' } },
                    ...described,
                  ],
                },
                {
                  type: 'record',
                  name: 'ConnectorDefinition',
                  doc: 'A Kafka Connect connector. Secrets in config are ${ENV_VAR} references, resolved only by the reconciler.',
                  fields: [
                    { name: 'name', type: 'string' },
                    { name: 'worker', type: 'string' },
                    { name: 'connectorClass', type: 'string' },
                    { name: 'config', type: { type: 'map', values: 'string' } },
                    {
                      name: 'state',
                      type: { type: 'enum', name: 'ConnectorState', symbols: ['running', 'paused'] },
                    },
                    ...described,
                  ],
                },
              ],
              default: null,
            },
          ],
        },
      },
    },
  ],
} as const;
