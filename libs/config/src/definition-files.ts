import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import {
  DEBEZIUM_SOURCE_TIMESTAMP,
  DEBEZIUM_UNWRAPPED_TIMESTAMP,
  DEFAULT_CONNECT_WORKER,
  DEFINITION_KINDS,
  DefinitionsInvalidError,
  fieldPathText,
  validateDefinitions,
  type ConnectorDefinition,
  type DataSourceDefinition,
  type DefinitionKind,
  type DefinitionProblem,
  type EntityDefinition,
  type FeatureServiceDefinition,
  type FeatureViewDefinition,
  type KafkaSourceFormat,
  type TaggedDefinition,
} from '@featurelog/domain';
import { formatDurationSeconds, parseDurationSeconds } from './duration';
import { checkDefinitionDocument } from './schema-validation';
import { locate, parseYamlDocuments, type YamlDocument } from './yaml-source';

/** The settings file of a repo; every other *.yaml / *.yml in it holds definitions. */
export const PROJECT_FILE_NAME = 'featurelog.yaml';

/** A definition and where it was written. */
export type LocatedDefinition = TaggedDefinition & { file: string; line: number };

export interface DefinitionReadResult {
  definitions: LocatedDefinition[];
  /** Every problem, YAML syntax, structure and semantics, each with file and line; sorted by file and line. */
  problems: DefinitionProblem[];
  files: string[];
}

/**
 * Reads every definition file of a feature repo (recursively; hidden folders such as `.featurelog/` and
 * `node_modules/` skipped, `featurelog.yaml` at the root excluded) and validates them together.
 * Throws DefinitionsInvalidError (code DEFINITIONS_INVALID) with every problem, or returns the definitions.
 */
export async function loadDefinitions(repoDir: string): Promise<LocatedDefinition[]> {
  const { definitions, problems } = await readDefinitions(repoDir);
  if (problems.length > 0) throw new DefinitionsInvalidError(problems, `definitions in ${repoDir} are invalid`);
  return definitions;
}

/** Like loadDefinitions, but returns the problems instead of throwing. */
export async function readDefinitions(repoDir: string): Promise<DefinitionReadResult> {
  const files = await definitionFiles(repoDir);
  const texts = await Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
  return parseDefinitionTexts(texts);
}

/** Validates definition files given as text (file names are only used in problems). */
export function parseDefinitionTexts(texts: ReadonlyArray<{ file: string; text: string }>): DefinitionReadResult {
  const problems: DefinitionProblem[] = [];
  const documents: Array<{ tagged: TaggedDefinition; source: YamlDocument; line: number; refusedPaths: Path[] }> = [];

  for (const { file, text } of texts) {
    const { documents: parsed, syntax } = parseYamlDocuments(text, file);
    for (const error of syntax) {
      problems.push({ code: 'YAML_SYNTAX', message: error.message, file, line: error.line, column: error.column });
    }
    for (const source of parsed) {
      const value: unknown = source.value;
      const kind = (value as { kind?: unknown } | null)?.kind;
      const name = (value as { name?: unknown } | null)?.name;
      const violations = checkDefinitionDocument(value);
      for (const violation of violations) {
        problems.push({
          code: violation.code,
          message: violation.message,
          ...(typeof kind === 'string' ? { kind: kind as DefinitionKind } : {}),
          ...(typeof name === 'string' ? { name } : {}),
          field: fieldPathText(violation.path),
          path: violation.path,
          file,
          ...locate(source, violation.path),
        });
      }
      if (!isRecord(value) || !(DEFINITION_KINDS as readonly unknown[]).includes(kind)) continue;
      // Structurally broken definitions still take part in the semantic checks (best effort), so that every
      // problem shows at once and references to them are not reported as unknown.
      documents.push({
        tagged: toDomain(value as YamlDefinition),
        source,
        line: locate(source, []).line,
        refusedPaths: violations.map((v) => v.path),
      });
    }
  }

  for (const problem of validateDefinitions(documents.map((d) => d.tagged))) {
    const origin = problem.index === undefined ? undefined : documents[problem.index];
    const yamlPath = toYamlPath(problem.path ?? []);
    // The schema already spoke about this value.
    if (origin?.refusedPaths.some((refused) => overlaps(refused, yamlPath))) continue;
    const located: DefinitionProblem = { ...problem, field: fieldPathText(yamlPath), path: yamlPath };
    delete located.index;
    if (origin) Object.assign(located, { file: origin.source.file, ...locate(origin.source, yamlPath) });
    problems.push(located);
  }

  problems.sort(
    (a, b) =>
      (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0),
  );
  const definitions = documents
    .filter((d) => d.refusedPaths.length === 0)
    .map(({ tagged, source, line }) => ({ ...tagged, file: source.file, line }));
  return { definitions, problems, files: texts.map((t) => t.file) };
}

type Path = Array<string | number>;

/** One path is a prefix of the other: they speak about the same value, or one contains the other. */
function overlaps(a: Path, b: Path): boolean {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

async function definitionFiles(repoDir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (/\.ya?ml$/.test(entry.name) && relative(repoDir, path) !== PROJECT_FILE_NAME) out.push(path);
    }
  };
  await walk(repoDir);
  return out;
}

/** A definition document as written (snake_case); may violate the schema, so every field is read defensively. */
type YamlDefinition = { kind: DefinitionKind; name: string } & Record<string, unknown>;

/** Drops undefined members, so definitions compare equal however they were written. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const member = (value: unknown, key: string): unknown => (isRecord(value) ? value[key] : undefined);

function metadata(doc: YamlDefinition) {
  return {
    description: doc.description as string | undefined,
    tags: doc.tags as Record<string, string> | undefined,
    owner: doc.owner as string | undefined,
  };
}

function ttlSeconds(ttl: unknown): number {
  if (ttl === undefined) return 0;
  try {
    return parseDurationSeconds(ttl as number | string);
  } catch {
    // Left as written, so the semantic check names the offending value (the schema reports malformed text).
    return ttl as number;
  }
}

function toDomain(doc: YamlDefinition): TaggedDefinition {
  switch (doc.kind) {
    case 'entity': {
      const joinKeys = list(doc.join_keys).map((key) => ({
        name: member(key, 'name'),
        type: member(key, 'type'),
      })) as EntityDefinition['joinKeys'];
      return { kind: 'entity', definition: defined({ name: doc.name, joinKeys, ...metadata(doc) }) };
    }
    case 'data_source': {
      const common = { name: doc.name, ...metadata(doc) };
      const fromStream = {
        timestampField: doc.timestamp_field as string,
        createdTimestampField: doc.created_timestamp_field as string | undefined,
        fieldMapping: doc.field_mapping as Record<string, string> | undefined,
      };
      let definition: DataSourceDefinition;
      if (doc.type === 'kafka') {
        const format = doc.format as KafkaSourceFormat | undefined;
        definition = {
          ...common,
          kind: 'kafka',
          topic: doc.topic as string,
          format,
          subject: doc.subject as string | undefined,
          ...fromStream,
          // Debezium says when a change was committed; a source over it need not name that field.
          timestampField:
            fromStream.timestampField ??
            (format === 'debezium'
              ? DEBEZIUM_SOURCE_TIMESTAMP
              : format === 'debezium-unwrapped'
                ? DEBEZIUM_UNWRAPPED_TIMESTAMP
                : undefined),
        } as DataSourceDefinition;
      } else if (doc.type === 'file') {
        definition = {
          ...common,
          kind: 'file',
          path: doc.path as string,
          format: doc.format as 'parquet' | 'csv',
          ...fromStream,
        };
      } else {
        definition = { ...common, kind: 'managed' };
      }
      return { kind: 'data_source', definition: defined(definition) };
    }
    case 'feature_view': {
      const features = list(doc.features).map((feature) =>
        defined({
          name: member(feature, 'name'),
          type: member(feature, 'type'),
          description: member(feature, 'description'),
          tags: member(feature, 'tags'),
        }),
      ) as FeatureViewDefinition['features'];
      const definition: FeatureViewDefinition = {
        name: doc.name,
        version: (doc.version as number | undefined) ?? 1,
        entities: list(doc.entities) as string[],
        features,
        ttlSeconds: ttlSeconds(doc.ttl),
        source: doc.source as string | undefined,
        online: (doc.online as boolean | undefined) ?? true,
        offline: (doc.offline as boolean | undefined) ?? true,
        partitions: doc.partitions as number | undefined,
        ...metadata(doc),
      };
      return { kind: 'feature_view', definition: defined(definition) };
    }
    case 'feature_service': {
      const definition: FeatureServiceDefinition = {
        name: doc.name,
        features: list(doc.features) as string[],
        ...metadata(doc),
      };
      return { kind: 'feature_service', definition: defined(definition) };
    }
    case 'connector': {
      const definition: ConnectorDefinition = {
        name: doc.name,
        worker: (doc.worker as string | undefined) ?? DEFAULT_CONNECT_WORKER,
        connectorClass: doc.class as string,
        config: connectorConfig(doc.config),
        state: (doc.state as ConnectorDefinition['state'] | undefined) ?? 'running',
        ...metadata(doc),
      };
      return { kind: 'connector', definition: defined(definition) };
    }
  }
}

/** Connect takes every setting as a string: `tasks.max: 1` and `schemas.enable: true` are written as YAML scalars. */
function connectorConfig(config: unknown): Record<string, string> {
  if (!isRecord(config)) return config as Record<string, string>;
  return Object.fromEntries(
    Object.entries(config).map(([key, value]) => [
      key,
      typeof value === 'number' || typeof value === 'boolean' ? String(value) : value,
    ]),
  ) as Record<string, string>;
}

/** Domain field names that are not simply the snake_case of the YAML field. */
const YAML_FIELD_NAMES: Record<string, string> = { ttlSeconds: 'ttl', kind: 'type', connectorClass: 'class' };
/** Keys below these are the user's own names, kept as written. */
const USER_KEYED = new Set(['fieldMapping', 'tags', 'config']);

/** A domain problem path (camelCase) → the YAML path of the same value, e.g. `joinKeys.0.type` → `join_keys.0.type`. */
function toYamlPath(path: ReadonlyArray<string | number>): Array<string | number> {
  return path.map((segment, i) => {
    if (typeof segment === 'number') return segment;
    const parent = path[i - 1];
    if (typeof parent === 'string' && USER_KEYED.has(parent)) return segment;
    return YAML_FIELD_NAMES[segment] ?? segment.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  });
}

/**
 * A definition as a definition file writes it, the inverse of the reading above: YAML field names
 * (`join_keys`, a data source's `type`), and the TTL as a duration (`ttlSeconds: 7200` → `ttl: 2h`;
 * 0, unbounded, stays `ttl: 0`). Fields that are not set are left out.
 */
export function toYamlDefinition({ kind, definition }: TaggedDefinition): Record<string, unknown> {
  return { kind, ...(toYamlValue(definition, undefined) as Record<string, unknown>) };
}

function toYamlValue(value: unknown, key: string | undefined): unknown {
  if (Array.isArray(value)) return value.map((item) => toYamlValue(item, undefined));
  if (value === null || typeof value !== 'object' || (key !== undefined && USER_KEYED.has(key))) return value;
  const fields: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    if (field === undefined) continue;
    const [yamlName] = toYamlPath([name]) as [string];
    fields[yamlName] =
      name === 'ttlSeconds' && typeof field === 'number' ? formatDurationSeconds(field) : toYamlValue(field, name);
  }
  return fields;
}
