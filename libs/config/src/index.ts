export * from './yaml-source';
export * from './schema-validation';
export * from './duration';
export * from './env-interpolation';
export * from './definition-files';
export * from './project-config';
export * from './feature-repo';
export * from './connection-settings';
export { schemaValidator, VALIDATED_SCHEMAS, VALIDATOR_OPTIONS, type ValidatedSchemaName } from './schema-validators';
