import { isReference, malformedPlaceholders, SECRET_CONFIG_KEY } from './connector-config';
import {
  CONNECTOR_STATES,
  DEBEZIUM_SOURCE_TIMESTAMP,
  DEFINITION_KINDS,
  KAFKA_SOURCE_FORMATS,
  type ConnectorDefinition,
  type DataSourceDefinition,
  type DefinitionKind,
  type EntityDefinition,
  type FeatureServiceDefinition,
  type FeatureViewDefinition,
  type TaggedDefinition,
} from './definitions';
import { FeaturelogError } from './errors';
import { JOIN_KEY_TYPES, parseValueType, type ScalarType } from './value-types';

/** Names of definitions, join keys and features: they end up in topic names, Avro fields and column names. */
export const NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

/** Columns every feature row carries besides join keys and features, so no feature or join key may take these names. */
export const RESERVED_COLUMN_NAMES: readonly string[] = ['event_timestamp', 'created_timestamp'];

/** Kafka's own rule for topic names. */
const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;

export type DefinitionProblemCode =
  | 'INVALID_KIND'
  | 'INVALID_NAME'
  | 'DUPLICATE_NAME'
  | 'MISSING_FIELD'
  | 'INVALID_VALUE'
  | 'INVALID_TYPE'
  | 'INVALID_JOIN_KEY_TYPE'
  | 'INVALID_TTL'
  | 'INVALID_VERSION'
  | 'INVALID_PARTITIONS'
  | 'NAME_COLLISION'
  | 'UNKNOWN_REFERENCE'
  | 'INVALID_FEATURE_REFERENCE'
  | 'INVALID_FIELD_MAPPING'
  | 'SECRET_IN_CLEAR'
  // Produced by loaders (libs/config), never by validateDefinitions:
  | 'YAML_SYNTAX'
  | 'UNKNOWN_FIELD'
  | 'WRONG_TYPE'
  | 'READ_FAILED';

/**
 * One thing wrong with a set of definitions. `path` addresses the offending value inside the
 * definition (camelCase domain fields, array indices), so a loader can map it back to a file line;
 * `field` is the same path written for people (`features[2].type`).
 */
export interface DefinitionProblem {
  code: DefinitionProblemCode;
  message: string;
  kind?: DefinitionKind;
  name?: string;
  field?: string;
  path?: Array<string | number>;
  /** Position of the offending definition in the list given to validateDefinitions, so loaders can tell duplicates apart. */
  index?: number;
  /** For UNKNOWN_REFERENCE: what was referred to, so a loader can drop echoes of a definition it already rejected. */
  reference?: { kind: DefinitionKind; name: string };
  /** Filled in by loaders. */
  file?: string;
  line?: number;
  column?: number;
}

/** Thrown when definitions are refused; `problems` lists every problem found, not just the first. */
export class DefinitionsInvalidError extends FeaturelogError {
  readonly problems: DefinitionProblem[];

  constructor(problems: DefinitionProblem[], heading = 'definitions are invalid') {
    super(
      'DEFINITIONS_INVALID',
      `${heading} (${problems.length} problem(s)):\n${problems.map(formatProblem).join('\n')}`,
    );
    this.problems = problems;
  }
}

/** `file:line: kind name, field: message` — the parts that are known. */
export function formatProblem(problem: DefinitionProblem): string {
  const where = problem.file ? `${problem.file}${problem.line ? `:${problem.line}` : ''}: ` : '';
  const what = problem.kind
    ? `${problem.kind} ${problem.name ?? '?'}${problem.field ? `, ${problem.field}` : ''}: `
    : '';
  return `  ${where}${what}${problem.message} [${problem.code}]`;
}

/** `['features', 2, 'type']` → `features[2].type`. */
export function fieldPathText(path: ReadonlyArray<string | number>): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}

/** A reference from a feature service: `view:feature`, or `view:*` for all of the view's features. */
export interface FeatureReference {
  view: string;
  feature: string | '*';
}

export function parseFeatureReference(text: string): FeatureReference | undefined {
  const match = /^([^:]+):([^:]+)$/.exec(text);
  if (!match) return undefined;
  return { view: match[1]!, feature: match[2]! };
}

/**
 * Checks a complete set of definitions (what a repo declares, or what the registry would hold
 * after an apply) and returns every problem found; an empty list means valid.
 * Inputs may come from JSON, so every field is checked defensively rather than trusted to match its type.
 */
export function validateDefinitions(definitions: readonly TaggedDefinition[]): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const byKind = {
    entity: new Map<string, EntityDefinition>(),
    data_source: new Map<string, DataSourceDefinition>(),
    feature_view: new Map<string, FeatureViewDefinition>(),
    feature_service: new Map<string, FeatureServiceDefinition>(),
    connector: new Map<string, ConnectorDefinition>(),
  };
  const indexOf = new Map<unknown, number>();

  definitions.forEach((tagged, index) => {
    const definition = tagged.definition as { name?: unknown } | undefined;
    const name = typeof definition?.name === 'string' ? definition.name : String(definition?.name);
    if (!(DEFINITION_KINDS as readonly string[]).includes(tagged.kind)) {
      problems.push({
        code: 'INVALID_KIND',
        message: `kind "${String(tagged.kind)}" is not one of ${DEFINITION_KINDS.join(', ')}`,
        name,
        index,
      });
      return;
    }
    const report = reporter(problems, tagged.kind, name, index);
    if (typeof definition?.name !== 'string' || !NAME_PATTERN.test(definition.name)) {
      report('INVALID_NAME', ['name'], `name "${name}" must match ${NAME_PATTERN}`);
    }
    const seen = byKind[tagged.kind] as Map<string, unknown>;
    if (seen.has(name)) {
      report('DUPLICATE_NAME', ['name'], `${tagged.kind} "${name}" is defined more than once`);
      return;
    }
    seen.set(name, tagged.definition);
    indexOf.set(tagged.definition, index);
  });

  const at = (kind: DefinitionKind, name: string, definition: unknown) =>
    reporter(problems, kind, name, indexOf.get(definition));
  for (const [name, entity] of byKind.entity) checkEntity(entity, at('entity', name, entity));
  for (const [name, source] of byKind.data_source) checkDataSource(source, byKind, at('data_source', name, source));
  for (const [name, view] of byKind.feature_view) checkView(view, byKind, at('feature_view', name, view));
  for (const [name, service] of byKind.feature_service) {
    checkService(service, byKind, at('feature_service', name, service));
  }
  for (const [name, connector] of byKind.connector) checkConnector(connector, at('connector', name, connector));
  return problems;
}

/** Throws DefinitionsInvalidError listing every problem, or returns when the definitions are valid. */
export function assertDefinitionsValid(definitions: readonly TaggedDefinition[]): void {
  const problems = validateDefinitions(definitions);
  if (problems.length > 0) throw new DefinitionsInvalidError(problems);
}

type Report = (
  code: DefinitionProblemCode,
  path: Array<string | number>,
  message: string,
  reference?: DefinitionProblem['reference'],
) => void;

interface Catalog {
  entity: Map<string, EntityDefinition>;
  data_source: Map<string, DataSourceDefinition>;
  feature_view: Map<string, FeatureViewDefinition>;
  feature_service: Map<string, FeatureServiceDefinition>;
  connector: Map<string, ConnectorDefinition>;
}

function reporter(
  problems: DefinitionProblem[],
  kind: DefinitionKind,
  name: string,
  index: number | undefined,
): Report {
  return (code, path, message, reference) => {
    const problem: DefinitionProblem = { code, message, kind, name, field: fieldPathText(path), path };
    if (index !== undefined) problem.index = index;
    if (reference) problem.reference = reference;
    problems.push(problem);
  };
}

function checkName(value: unknown, path: Array<string | number>, what: string, report: Report): value is string {
  if (typeof value !== 'string' || value === '') {
    report('MISSING_FIELD', path, `${what} must be a non-empty string`);
    return false;
  }
  if (!NAME_PATTERN.test(value)) {
    report('INVALID_NAME', path, `${what} "${value}" must match ${NAME_PATTERN}`);
    return false;
  }
  if (RESERVED_COLUMN_NAMES.includes(value)) {
    report('NAME_COLLISION', path, `${what} "${value}" is reserved (${RESERVED_COLUMN_NAMES.join(', ')})`);
    return false;
  }
  return true;
}

function checkEntity(entity: EntityDefinition, report: Report): void {
  if (!Array.isArray(entity.joinKeys) || entity.joinKeys.length === 0) {
    report('MISSING_FIELD', ['joinKeys'], 'an entity needs at least one join key');
    return;
  }
  const names = new Set<string>();
  entity.joinKeys.forEach((key, i) => {
    if (checkName(key?.name, ['joinKeys', i, 'name'], 'join key name', report)) {
      if (names.has(key.name)) report('DUPLICATE_NAME', ['joinKeys', i, 'name'], `join key "${key.name}" repeats`);
      names.add(key.name);
    }
    if (!(JOIN_KEY_TYPES as readonly unknown[]).includes(key?.type)) {
      report(
        'INVALID_JOIN_KEY_TYPE',
        ['joinKeys', i, 'type'],
        `join key type "${String(key?.type)}" must be one of ${JOIN_KEY_TYPES.join(', ')} (keys are compared exactly)`,
      );
    }
  });
}

function checkDataSource(source: DataSourceDefinition, catalog: Catalog, report: Report): void {
  const kinds = ['managed', 'kafka', 'file'];
  if (!kinds.includes(source.kind)) {
    report('INVALID_VALUE', ['kind'], `data source kind "${String(source.kind)}" must be one of ${kinds.join(', ')}`);
    return;
  }
  if (source.kind === 'managed') return;
  if (source.kind === 'kafka') {
    if (typeof source.topic !== 'string' || !TOPIC_PATTERN.test(source.topic)) {
      report('INVALID_VALUE', ['topic'], `topic "${String(source.topic)}" must match ${TOPIC_PATTERN}`);
    }
    if (source.subject !== undefined && (typeof source.subject !== 'string' || source.subject === '')) {
      report('INVALID_VALUE', ['subject'], 'subject, when given, must be a non-empty string');
    }
    checkKafkaFormat(source, report);
  } else {
    if (typeof source.path !== 'string' || source.path === '') {
      report('MISSING_FIELD', ['path'], 'a file source needs a path');
    }
    if (source.format !== 'parquet' && source.format !== 'csv') {
      report('INVALID_VALUE', ['format'], `format "${String(source.format)}" must be parquet or csv`);
    }
  }
  if (typeof source.timestampField !== 'string' || source.timestampField === '') {
    report('MISSING_FIELD', ['timestampField'], `a ${source.kind} source needs the field holding the event timestamp`);
  }
  if (source.createdTimestampField !== undefined) {
    if (typeof source.createdTimestampField !== 'string' || source.createdTimestampField === '') {
      report(
        'INVALID_VALUE',
        ['createdTimestampField'],
        'createdTimestampField, when given, must be a non-empty string',
      );
    } else if (source.createdTimestampField === source.timestampField) {
      report('INVALID_VALUE', ['createdTimestampField'], 'the created timestamp must be a different field');
    }
  }
  checkFieldMapping(source, catalog, report);
}

function checkKafkaFormat(source: Extract<DataSourceDefinition, { kind: 'kafka' }>, report: Report): void {
  const { format } = source;
  if (format === undefined) return;
  if (!(KAFKA_SOURCE_FORMATS as readonly unknown[]).includes(format)) {
    report(
      'INVALID_VALUE',
      ['format'],
      `format "${String(format)}" must be one of ${KAFKA_SOURCE_FORMATS.join(', ')} (absent is avro)`,
    );
    return;
  }
  if ((format === 'connect-json' || format === 'json') && source.subject !== undefined) {
    report(
      'INVALID_VALUE',
      ['subject'],
      `a ${format} source reads no schema from the schema registry, so it has no subject; leave subject out`,
    );
  }
  // The commit time in the source database is the only event time a delete (no `after`) also carries.
  if (
    format === 'debezium' &&
    source.timestampField !== undefined &&
    source.timestampField !== DEBEZIUM_SOURCE_TIMESTAMP
  ) {
    report(
      'INVALID_VALUE',
      ['timestampField'],
      `the event time of a debezium source is the source's commit time, ${DEBEZIUM_SOURCE_TIMESTAMP}; ` +
        `got "${String(source.timestampField)}" (leave timestamp_field out)`,
    );
  }
}

function checkFieldMapping(
  source: Extract<DataSourceDefinition, { kind: 'kafka' | 'file' }>,
  catalog: Catalog,
  report: Report,
): void {
  if (source.fieldMapping === undefined) return;
  if (typeof source.fieldMapping !== 'object' || source.fieldMapping === null || Array.isArray(source.fieldMapping)) {
    report('INVALID_FIELD_MAPPING', ['fieldMapping'], 'fieldMapping must map source field names to view column names');
    return;
  }
  // A mapping target must exist in some view reading this source; otherwise it is a typo that would drop data silently.
  const readers = [...catalog.feature_view.values()].filter((view) => view.source === source.name);
  const targets = new Set<string>();
  for (const view of readers) {
    for (const feature of Array.isArray(view.features) ? view.features : []) targets.add(feature?.name);
    for (const key of viewJoinKeysFromCatalog(view, catalog)) targets.add(key.name);
  }
  const mappedTo = new Map<string, string>();
  for (const [column, target] of Object.entries(source.fieldMapping)) {
    const path = ['fieldMapping', column];
    if (column === '') report('INVALID_FIELD_MAPPING', path, 'a mapped source field name must be non-empty');
    if (typeof target !== 'string' || !NAME_PATTERN.test(target)) {
      report('INVALID_FIELD_MAPPING', path, `target "${String(target)}" of "${column}" must match ${NAME_PATTERN}`);
      continue;
    }
    if (RESERVED_COLUMN_NAMES.includes(target)) {
      report('INVALID_FIELD_MAPPING', path, `"${target}" is set by timestampField/createdTimestampField, not mapped`);
      continue;
    }
    const earlier = mappedTo.get(target);
    if (earlier !== undefined) {
      report('INVALID_FIELD_MAPPING', path, `"${column}" and "${earlier}" both map to "${target}"`);
    }
    mappedTo.set(target, column);
    if (readers.length > 0 && !targets.has(target)) {
      report(
        'INVALID_FIELD_MAPPING',
        path,
        `"${column}" maps to "${target}", which is no join key or feature of ${readers.map((v) => v.name).join(', ')}`,
      );
    }
  }
}

function viewJoinKeysFromCatalog(view: FeatureViewDefinition, catalog: Catalog): { name: string; type: ScalarType }[] {
  const entities = Array.isArray(view.entities) ? view.entities : [];
  return entities.flatMap((name) => {
    const keys = catalog.entity.get(name)?.joinKeys;
    return Array.isArray(keys) ? keys : [];
  });
}

function checkView(view: FeatureViewDefinition, catalog: Catalog, report: Report): void {
  if (!Number.isSafeInteger(view.version) || view.version < 1) {
    report('INVALID_VERSION', ['version'], `version must be an integer >= 1, got ${String(view.version)}`);
  }
  if (!Number.isSafeInteger(view.ttlSeconds) || view.ttlSeconds < 0) {
    report(
      'INVALID_TTL',
      ['ttlSeconds'],
      `ttl must be a whole number of seconds >= 0 (0 = forever), got ${String(view.ttlSeconds)}`,
    );
  }
  if (view.partitions !== undefined && (!Number.isSafeInteger(view.partitions) || view.partitions < 1)) {
    report('INVALID_PARTITIONS', ['partitions'], `partitions must be an integer >= 1, got ${String(view.partitions)}`);
  }
  for (const flag of ['online', 'offline'] as const) {
    if (typeof view[flag] !== 'boolean') report('INVALID_VALUE', [flag], `${flag} must be true or false`);
  }
  if (view.source !== undefined && !catalog.data_source.has(view.source)) {
    report('UNKNOWN_REFERENCE', ['source'], `data source "${view.source}" is not defined`, {
      kind: 'data_source',
      name: view.source,
    });
  }

  const joinKeyOwners = new Map<string, string>();
  if (!Array.isArray(view.entities) || view.entities.length === 0) {
    report('MISSING_FIELD', ['entities'], 'a feature view needs at least one entity (its rows are keyed by them)');
  } else {
    const seen = new Set<string>();
    view.entities.forEach((entityName, i) => {
      if (seen.has(entityName)) report('DUPLICATE_NAME', ['entities', i], `entity "${entityName}" is listed twice`);
      seen.add(entityName);
      const entity = catalog.entity.get(entityName);
      if (!entity) {
        report('UNKNOWN_REFERENCE', ['entities', i], `entity "${entityName}" is not defined`, {
          kind: 'entity',
          name: entityName,
        });
        return;
      }
      for (const key of Array.isArray(entity.joinKeys) ? entity.joinKeys : []) {
        const owner = joinKeyOwners.get(key?.name);
        if (owner !== undefined && owner !== entityName) {
          report(
            'NAME_COLLISION',
            ['entities', i],
            `join key "${key.name}" of "${entityName}" is also a join key of "${owner}"`,
          );
        }
        joinKeyOwners.set(key?.name, entityName);
      }
    });
  }

  if (!Array.isArray(view.features) || view.features.length === 0) {
    report('MISSING_FIELD', ['features'], 'a feature view needs at least one feature');
    return;
  }
  const featureNames = new Set<string>();
  view.features.forEach((feature, i) => {
    if (checkName(feature?.name, ['features', i, 'name'], 'feature name', report)) {
      if (featureNames.has(feature.name)) {
        report('DUPLICATE_NAME', ['features', i, 'name'], `feature "${feature.name}" is defined twice`);
      }
      featureNames.add(feature.name);
      const owner = joinKeyOwners.get(feature.name);
      if (owner !== undefined) {
        report(
          'NAME_COLLISION',
          ['features', i, 'name'],
          `feature "${feature.name}" has the name of a join key of "${owner}"`,
        );
      }
    }
    if (typeof feature?.type !== 'string' || parseValueType(feature.type) === undefined) {
      report(
        'INVALID_TYPE',
        ['features', i, 'type'],
        `type "${String(feature?.type)}" is not a scalar type or list<scalar> (bool, int32, int64, float32, float64, string, bytes, timestamp)`,
      );
    }
  });
}

function checkService(service: FeatureServiceDefinition, catalog: Catalog, report: Report): void {
  if (!Array.isArray(service.features) || service.features.length === 0) {
    report('MISSING_FIELD', ['features'], 'a feature service needs at least one feature reference');
    return;
  }
  const seen = new Set<string>();
  service.features.forEach((text, i) => {
    const path = ['features', i];
    const reference = typeof text === 'string' ? parseFeatureReference(text) : undefined;
    if (!reference) {
      report('INVALID_FEATURE_REFERENCE', path, `"${String(text)}" must be written view:feature or view:*`);
      return;
    }
    if (seen.has(text)) report('DUPLICATE_NAME', path, `"${text}" is listed twice`);
    seen.add(text);
    const view = catalog.feature_view.get(reference.view);
    if (!view) {
      report('UNKNOWN_REFERENCE', path, `feature view "${reference.view}" is not defined`, {
        kind: 'feature_view',
        name: reference.view,
      });
      return;
    }
    const features = Array.isArray(view.features) ? view.features : [];
    if (reference.feature !== '*' && !features.some((feature) => feature?.name === reference.feature)) {
      report('UNKNOWN_REFERENCE', path, `feature view "${reference.view}" has no feature "${reference.feature}"`, {
        kind: 'feature_view',
        name: reference.view,
      });
    }
  });
}

/** Java class names as Connect takes them (`io.debezium.connector.postgresql.PostgresConnector`, or a short alias). */
const CONNECTOR_CLASS_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$/;
/** Set from the definition's own fields, so they may not also appear in its config. */
const CONNECTOR_OWN_KEYS: Record<string, string> = { name: 'name', 'connector.class': 'class' };

function checkConnector(connector: ConnectorDefinition, report: Report): void {
  if (typeof connector.worker !== 'string' || !NAME_PATTERN.test(connector.worker)) {
    report(
      'INVALID_VALUE',
      ['worker'],
      `worker "${String(connector.worker)}" must name a Connect worker of featurelog.yaml (${NAME_PATTERN})`,
    );
  }
  if (typeof connector.connectorClass !== 'string' || !CONNECTOR_CLASS_PATTERN.test(connector.connectorClass)) {
    report(
      'INVALID_VALUE',
      ['connectorClass'],
      `connector class "${String(connector.connectorClass)}" must be a Java class name or alias`,
    );
  }
  if (!(CONNECTOR_STATES as readonly unknown[]).includes(connector.state)) {
    report(
      'INVALID_VALUE',
      ['state'],
      `state "${String(connector.state)}" must be one of ${CONNECTOR_STATES.join(', ')}`,
    );
  }
  const config: unknown = connector.config;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    report('MISSING_FIELD', ['config'], "a connector needs its config: a map of Connect's settings to values");
    return;
  }
  for (const [key, value] of Object.entries(config)) {
    const path = ['config', key];
    if (Object.hasOwn(CONNECTOR_OWN_KEYS, key)) {
      report(
        'INVALID_VALUE',
        path,
        `"${key}" is set from the connector's \`${CONNECTOR_OWN_KEYS[key]}\`; leave it out of config`,
      );
      continue;
    }
    if (typeof value !== 'string') {
      report(
        'INVALID_VALUE',
        path,
        `"${key}" must be a string, number or boolean, got ${value === null ? 'null' : typeof value}`,
      );
      continue;
    }
    for (const placeholder of malformedPlaceholders(value)) {
      report(
        'INVALID_VALUE',
        path,
        `"${placeholder}" is not a reference: write \${ENV_VAR} (letters, digits, _) or a Connect provider reference \${provider:path:key}`,
      );
    }
    // The value itself is never repeated in the message: it may be the secret.
    if (SECRET_CONFIG_KEY.test(key) && value !== '' && !isReference(value)) {
      report(
        'SECRET_IN_CLEAR',
        path,
        `"${key}" holds a secret: write a reference to an environment variable, e.g. \${${envNameFor(key)}}, so the secret never enters the registry log`,
      );
    }
  }
}

function envNameFor(key: string): string {
  return key.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase();
}
