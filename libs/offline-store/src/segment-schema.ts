import {
  FeaturelogError,
  JOIN_KEY_TYPES,
  parseValueType,
  type EntityDefinition,
  type FeatureValue,
  type FeatureViewDefinition,
  type ValueType,
} from '@featurelog/domain';

/** Column names of the row-version and log-position columns every segment carries. */
export const SEGMENT_SYSTEM_COLUMNS = {
  eventTimestamp: 'event_timestamp',
  createdTimestamp: 'created_timestamp',
  partition: '__partition',
  offset: '__offset',
  appendTime: '__append_time',
  sourcePosition: '__source_position',
  deleted: '__deleted',
} as const;

export interface SegmentColumn {
  name: string;
  type: ValueType;
}

/**
 * The columns of a view's segments, in file order: join keys (non-null), event_timestamp (non-null),
 * created_timestamp (nullable), __partition (int32), __offset (int64), __append_time (the log's append time,
 * non-null), with `changes` __source_position (string of digits, nullable) and __deleted (bool, non-null),
 * then each feature (nullable). All timestamps are epoch microseconds, UTC.
 */
export interface SegmentSchema {
  view: string;
  viewVersion: number;
  joinKeys: SegmentColumn[];
  features: SegmentColumn[];
  /**
   * The file has the change-data-capture columns __source_position (where the row's change sits in its
   * source database's log, see RowVersion.sourcePosition) and __deleted (the row is the delete of its
   * entity: its features are null, and a backfill writes it as a delete). Every segment written now has
   * them; segments written before lack them and read as rows without a source position, not deleted.
   */
  changes?: boolean;
}

/**
 * One feature row as it sits in a segment. Join keys and features are keyed by column name;
 * values use the domain's in-memory representation (see FeatureValue).
 */
export interface SegmentRow {
  joinKeys: Record<string, FeatureValue>;
  eventTimestamp: number;
  createdTimestamp: number | null;
  partition: number;
  offset: number;
  /** When the log appended the row (epoch µs), so exports can ask "was it known at t?". */
  appendTime: number;
  /** Where the row's change sits in its source database's log (RowVersion.sourcePosition); absent: none. */
  sourcePosition?: string;
  /** The row deletes its entity of the view (change data capture): every feature is null. Absent: false. */
  deleted?: boolean;
  features: Record<string, FeatureValue>;
}

/** Derives the segment schema of a view from its definition and the definitions of its entities. */
export function segmentSchemaFor(view: FeatureViewDefinition, entities: readonly EntityDefinition[]): SegmentSchema {
  const reserved = new Set<string>(Object.values(SEGMENT_SYSTEM_COLUMNS));
  const taken = new Map<string, string>();
  const claim = (name: string, owner: string) => {
    if (reserved.has(name)) {
      throw invalid(view, `${owner} is named '${name}', which is a reserved segment column`);
    }
    const previous = taken.get(name);
    if (previous !== undefined) throw invalid(view, `${owner} and ${previous} are both named '${name}'`);
    taken.set(name, owner);
  };

  const joinKeys: SegmentColumn[] = [];
  for (const entityName of view.entities) {
    const entity = entities.find((candidate) => candidate.name === entityName);
    if (!entity) throw invalid(view, `entity '${entityName}' is not among the given entity definitions`);
    for (const key of entity.joinKeys) {
      if (!JOIN_KEY_TYPES.includes(key.type)) {
        throw invalid(view, `join key '${key.name}' of entity '${entity.name}' has type ${key.type}, not a key type`);
      }
      claim(key.name, `join key of entity '${entity.name}'`);
      joinKeys.push({ name: key.name, type: key.type });
    }
  }
  if (joinKeys.length === 0) throw invalid(view, 'it has no join keys');

  const features = view.features.map((feature) => {
    const type = parseValueType(feature.type);
    if (!type) throw invalid(view, `feature '${feature.name}' has unknown type '${feature.type}'`);
    claim(feature.name, `feature '${feature.name}'`);
    return { name: feature.name, type };
  });
  return { view: view.name, viewVersion: view.version, joinKeys, features, changes: true };
}

function invalid(view: FeatureViewDefinition, why: string): FeaturelogError {
  return new FeaturelogError(
    'SEGMENT_SCHEMA_INVALID',
    `cannot derive the segment schema of view '${view.name}': ${why}`,
  );
}

/**
 * The order of rows inside a segment, which exports rely on to k-way merge segments:
 * entity (join keys in schema order), then event_timestamp, created_timestamp (null first, as it ranks
 * lowest), partition, offset — all ascending. Join key values compare by type: numbers numerically,
 * strings by UTF-16 code units, false before true, bytes lexicographically.
 */
export function compareSegmentRows(schema: SegmentSchema, a: SegmentRow, b: SegmentRow): number {
  for (const key of schema.joinKeys) {
    const order = compareKeyValues(a.joinKeys[key.name] ?? null, b.joinKeys[key.name] ?? null);
    if (order !== 0) return order;
  }
  if (a.eventTimestamp !== b.eventTimestamp) return a.eventTimestamp < b.eventTimestamp ? -1 : 1;
  const ac = a.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  const bc = b.createdTimestamp ?? Number.NEGATIVE_INFINITY;
  if (ac !== bc) return ac < bc ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  return a.offset - b.offset;
}

function compareKeyValues(a: FeatureValue, b: FeatureValue): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b);
  if (typeof a === 'boolean' || typeof a === 'number' || typeof a === 'string') {
    return a < (b as typeof a) ? -1 : a > (b as typeof a) ? 1 : 0;
  }
  throw new FeaturelogError('SEGMENT_ROW_INVALID', `join key values must be scalars, got ${typeof a}`);
}

/** Sorts rows in place into segment order; for a compactor that buffers one segment's rows. */
export function sortSegmentRows(schema: SegmentSchema, rows: SegmentRow[]): SegmentRow[] {
  return rows.sort((a, b) => compareSegmentRows(schema, a, b));
}
