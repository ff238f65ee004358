import { extname } from 'node:path';
import {
  FeaturelogError,
  requireDefinition,
  resolveFeatureReferences,
  resolveServiceFeatures,
  type DefinitionSource,
  type EntityDefinition,
  type FeatureViewDefinition,
  type ResolvedFeature,
  type ValueType,
} from '@featurelog/domain';
import type { KafkaDataSource } from '@featurelog/avro';
import {
  assertOneTopicFiledUnder,
  columnKeyOf,
  keyFormOf,
  resolveOfflineView,
  segmentSchemaFor,
  type KeyForm,
  type SegmentColumn,
} from '@featurelog/offline-store';
import type { ColumnKey } from '@featurelog/pit';
import { openEntityFile, type EntityFile, type EntityFileFormat } from './entity-file';

/** The column of the entity file that holds each row's point in time. */
export const ENTITY_TIMESTAMP_COLUMN = 'event_timestamp';

/** What a training-set export is asked to do; paths are absolute once a job carries them. */
export interface ExportRequest {
  /** Parquet or CSV with the join keys, `event_timestamp` and any extra columns. */
  entities: string;
  entitiesFormat?: EntityFileFormat;
  /** `view:feature` or `view:*`; exactly one of `features` and `service`. */
  features?: string[];
  service?: string;
  /** The Parquet file to write. */
  output: string;
  /** Name feature columns `view__feature` instead of `feature`. */
  fullFeatureNames?: boolean;
  /** Only rows the log had appended (and that were created) by each entity row's time. */
  asServed?: boolean;
}

export interface PlannedFeature {
  name: string;
  type: ValueType;
  /** Its column in the training set. */
  column: string;
}

export interface PlannedView {
  definition: FeatureViewDefinition;
  entities: EntityDefinition[];
  /** The view's join keys in segment order, which is the order its history is merged in. */
  joinKeys: SegmentColumn[];
  /** Views with the same join keys in the same order share one pass over the entity rows. */
  keyName: string;
  features: PlannedFeature[];
  /** The topic the view reads (see resolveOfflineView): its data source's existing topic, or its managed one. */
  topic: string;
  /** Set when the view reads an existing topic: its records decode with the source's own schema and mapping. */
  dataSource?: KafkaDataSource;
}

export type OutputColumn =
  | { name: string; source: 'entity'; index: number }
  | { name: string; source: 'feature'; view: string; feature: string; type: ValueType };

export interface ExportPlan {
  project: string;
  request: ExportRequest;
  entityFile: EntityFile;
  views: PlannedView[];
  timestampIndex: number;
  /** Join key column → its position in the entity file and its type (from the entity definitions). */
  joinKeyColumns: Map<string, { index: number; type: SegmentColumn['type'] }>;
  columns: OutputColumn[];
  /** The views grouped by join keys, in order of first request: one join pass each. */
  passes: JoinPass[];
}

/**
 * Views that share join keys (in the same order), joined against one ordering of the entity rows by
 * those keys: the entity rows are sorted once per pass and frame, whatever the number of its views.
 */
export interface JoinPass {
  keyName: string;
  keyForm: KeyForm;
  views: PlannedView[];
  /** Each row's key in the pass's form; null when a join key is missing (the row matches nothing). */
  keysOf(columns: readonly unknown[][], length: number): ArrayLike<ColumnKey | null>;
}

/** The formats an export writes, by file extension. */
export const EXPORT_OUTPUT_FORMATS = ['.parquet'] as const;

/**
 * Refuses an output named for another format (`x.csv`) instead of silently writing Parquet into it. Only
 * Parquet is written: a training set needs exact int64, µs UTC timestamps, nulls, lists and bytes, which
 * CSV cannot carry without a convention each reader would have to know. A name without an extension is
 * taken as Parquet.
 */
export function assertParquetOutput(output: string): void {
  const extension = extname(output).toLowerCase();
  if (extension === '' || (EXPORT_OUTPUT_FORMATS as readonly string[]).includes(extension)) return;
  throw new FeaturelogError(
    'EXPORT_OUTPUT_FORMAT_UNSUPPORTED',
    `cannot write ${output}: exports are written as Parquet only (supported: ${EXPORT_OUTPUT_FORMATS.join(', ')}), ` +
      `not ${extension}; name the output file .parquet (DuckDB, pandas and Spark read it, and can convert it to CSV)`,
  );
}

/**
 * The export's first stage: checks everything that can be checked before any work — the features or
 * service exist, every view keeps offline history, the entity file has `event_timestamp` and every join
 * key, and the output columns do not collide — and groups the views into join passes. Throws a
 * FeaturelogError naming the problem; bad input fails here, before the log is read.
 */
export async function planExport(
  project: string,
  request: ExportRequest,
  definitions: DefinitionSource,
): Promise<ExportPlan> {
  assertParquetOutput(request.output);
  const resolved = resolveRequestedFeatures(request, definitions);
  const views = planViews(resolved, definitions);
  const entityFile = await openEntityFile(request.entities, request.entitiesFormat);
  const names = entityFile.columns.map((column) => column.name);

  const timestampIndex = names.indexOf(ENTITY_TIMESTAMP_COLUMN);
  if (timestampIndex < 0) {
    throw new FeaturelogError(
      'ENTITY_TIMESTAMP_MISSING',
      `entity file ${entityFile.path} has no "${ENTITY_TIMESTAMP_COLUMN}" column (columns: ${names.join(', ')})`,
    );
  }
  const joinKeyColumns = new Map<string, { index: number; type: SegmentColumn['type'] }>();
  for (const view of views) {
    for (const key of view.joinKeys) {
      const index = names.indexOf(key.name);
      if (index < 0) {
        throw new FeaturelogError(
          'ENTITY_JOIN_KEY_MISSING',
          `entity file ${entityFile.path} has no column "${key.name}", the join key of view "${view.definition.name}" ` +
            `(columns: ${names.join(', ')})`,
        );
      }
      const known = joinKeyColumns.get(key.name);
      if (known !== undefined && known.type !== key.type) {
        throw new FeaturelogError(
          'JOIN_KEY_TYPE_CONFLICT',
          `join key "${key.name}" is ${known.type} in one requested view and ${key.type} in view "${view.definition.name}"`,
        );
      }
      joinKeyColumns.set(key.name, { index, type: key.type });
    }
  }

  const columns: OutputColumn[] = names.map((name, index) => ({ name, source: 'entity', index }));
  const owners = new Map<string, string>(names.map((name) => [name, `entity file column "${name}"`]));
  for (const view of views) {
    for (const feature of view.features) {
      const owner = `feature ${view.definition.name}:${feature.name}`;
      const previous = owners.get(feature.column);
      if (previous !== undefined) {
        throw new FeaturelogError(
          'FEATURE_NAME_COLLISION',
          `${owner} and ${previous} would both be column "${feature.column}"` +
            (request.fullFeatureNames ? '' : '; use full feature names (view__feature)'),
        );
      }
      owners.set(feature.column, owner);
      columns.push({
        name: feature.column,
        source: 'feature',
        view: view.definition.name,
        feature: feature.name,
        type: feature.type,
      });
    }
  }
  const passes = planJoinPasses(views, joinKeyColumns);
  return { project, request, entityFile, views, timestampIndex, joinKeyColumns, columns, passes };

  function planViews(features: ResolvedFeature[], source: DefinitionSource): PlannedView[] {
    const byView = new Map<string, PlannedView>();
    for (const { view, feature } of features) {
      let planned = byView.get(view.name);
      if (planned === undefined) {
        if (!view.offline) {
          throw new FeaturelogError(
            'VIEW_NOT_OFFLINE',
            `feature view "${view.name}" keeps no offline history (offline: false), so it cannot be exported`,
          );
        }
        const entities = view.entities.map((name) => requireDefinition(source, 'entity', name));
        const joinKeys = segmentSchemaFor(view, entities).joinKeys;
        const offline = resolveOfflineView(source, project, view);
        assertOneTopicFiledUnder(source, project, view);
        planned = {
          definition: view,
          entities,
          joinKeys,
          keyName: joinKeys.map((key) => key.name).join(','),
          features: [],
          topic: offline.topic,
          ...(offline.source === undefined ? {} : { dataSource: offline.source }),
        };
        byView.set(view.name, planned);
      }
      planned.features.push({
        name: feature.name,
        type: feature.type,
        column: request.fullFeatureNames ? `${view.name}__${feature.name}` : feature.name,
      });
    }
    return [...byView.values()];
  }
}

function resolveRequestedFeatures(request: ExportRequest, definitions: DefinitionSource): ResolvedFeature[] {
  const hasFeatures = request.features !== undefined && request.features.length > 0;
  if (hasFeatures === (request.service !== undefined)) {
    throw new FeaturelogError(
      'EXPORT_FEATURES_INVALID',
      'an export needs exactly one of: feature references (view:feature, view:*) or a feature service',
    );
  }
  return hasFeatures
    ? resolveFeatureReferences(definitions, request.features!)
    : resolveServiceFeatures(definitions, request.service!);
}

function planJoinPasses(views: readonly PlannedView[], joinKeyColumns: ExportPlan['joinKeyColumns']): JoinPass[] {
  const passes = new Map<string, JoinPass>();
  for (const view of views) {
    let pass = passes.get(view.keyName);
    if (pass === undefined) {
      const joinKeys = view.joinKeys;
      const keyForm = keyFormOf(joinKeys);
      const indexes = joinKeys.map((key) => joinKeyColumns.get(key.name)!.index);
      const record: Record<string, unknown> = {};
      pass = {
        keyName: view.keyName,
        keyForm,
        views: [],
        keysOf: (columns, length) => {
          const keyColumns = indexes.map((index) => columns[index]!);
          if (keyForm === 'number') {
            // NaN marks a missing key (left out of the order).
            const keys = new Float64Array(length);
            const column = keyColumns[0]!;
            for (let i = 0; i < length; i++) {
              const value = column[i];
              keys[i] = value === null || value === undefined ? Number.NaN : (value as number);
            }
            return keys;
          }
          const keys = new Array<ColumnKey | null>(length);
          for (let i = 0; i < length; i++) {
            for (let k = 0; k < joinKeys.length; k++) record[joinKeys[k]!.name] = keyColumns[k]![i];
            keys[i] = columnKeyOf(keyForm, joinKeys, record);
          }
          return keys;
        },
      };
      passes.set(view.keyName, pass);
    }
    pass.views.push(view);
  }
  return [...passes.values()];
}
