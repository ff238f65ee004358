import {
  FeaturelogError,
  getDataSource,
  type DataSourceDefinition,
  type RowProblem,
  type ValueType,
} from '@featurelog/domain';
import { csvValue } from './csv-values';
import type { FeatureProducer, ViewTarget } from './feature-producer';
import { isAbsolute, resolve } from 'node:path';
import { featureFileFormat, openFeatureFile, type FeatureFileFormat, type FileRecord } from './feature-files';
import type { InputRow } from './row-input';

type FileSource = Extract<DataSourceDefinition, { kind: 'file' }>;

/** Which file column feeds which field of the view. */
export interface ColumnMapping {
  field: string;
  column: string;
  type: ValueType;
}

export interface FileColumns {
  mapping: ColumnMapping[];
  /** Columns of the file that feed no field (wide files carry extra columns). */
  ignored: string[];
}

/**
 * Maps the columns of a file to the view's fields. With a `file` data source, its field mapping
 * (column → field), timestamp field and created-timestamp field say which column is which; every
 * other field is read from the column of its own name. Join keys, `event_timestamp` and every
 * feature must have a column (a missing feature column would otherwise overwrite stored values with
 * null); `created_timestamp` is optional. Throws INGEST_MISSING_COLUMNS naming each missing one.
 */
export function fileColumns(
  target: ViewTarget,
  source: FileSource | undefined,
  columns: readonly string[],
): FileColumns {
  const columnOf = new Map<string, string>();
  for (const [column, field] of Object.entries(source?.fieldMapping ?? {})) columnOf.set(field, column);
  if (source !== undefined) {
    columnOf.set('event_timestamp', source.timestampField);
    if (source.createdTimestampField !== undefined) columnOf.set('created_timestamp', source.createdTimestampField);
  }
  const fields: Array<{ field: string; type: ValueType; required: boolean }> = [
    ...target.joinKeys.map((key) => ({ field: key.name, type: key.type as ValueType, required: true })),
    { field: 'event_timestamp', type: 'timestamp', required: true },
    { field: 'created_timestamp', type: 'timestamp', required: source?.createdTimestampField !== undefined },
    ...target.view.features.map((feature) => ({ field: feature.name, type: feature.type, required: true })),
  ];
  const present = new Set(columns);
  const mapping: ColumnMapping[] = [];
  const missing: string[] = [];
  for (const { field, type, required } of fields) {
    const column = columnOf.get(field) ?? field;
    if (present.has(column)) mapping.push({ field, column, type });
    else if (required) missing.push(column === field ? field : `${column} (for ${field})`);
  }
  if (missing.length > 0) {
    throw new FeaturelogError(
      'INGEST_MISSING_COLUMNS',
      `the file has no column ${missing.join(', ')} of feature view "${target.view.name}"` +
        `${source ? ` (data source "${source.name}")` : ''}; its columns are: ${columns.join(', ')}`,
    );
  }
  const used = new Set(mapping.map((m) => m.column));
  return { mapping, ignored: columns.filter((column) => !used.has(column)) };
}

/** A function from a file record to the view's input row: CSV text is read by each field's type. */
export function recordReader(
  format: FeatureFileFormat,
  mapping: readonly ColumnMapping[],
): (record: FileRecord) => InputRow {
  if (format === 'csv') {
    return ({ values }) => {
      const row: Record<string, unknown> = {};
      for (const { field, column, type } of mapping) {
        const text = values[column];
        if (typeof text === 'string') row[field] = csvValue(type, text);
      }
      return row;
    };
  }
  return ({ values }) => {
    const row: Record<string, unknown> = {};
    for (const { field, column } of mapping) row[field] = values[column];
    return row;
  };
}

/** A row that was not produced, with every reason. */
export interface RejectedRow {
  row: number;
  line?: number;
  problems: RowProblem[];
  /** The file's values of the mapped columns, for the reject file. */
  values: Record<string, unknown>;
}

export interface IngestProgress {
  phase: 'validate' | 'produce';
  /** Rows read in this phase. */
  rows: number;
  /** Known for Parquet, and for CSV once the validation pass has counted them. */
  totalRows: number | undefined;
  /** How far through the file, 0..1. */
  fraction: number;
  rejected: number;
  produced: number;
  /** Since this phase began. */
  elapsedMs: number;
}

export interface IngestOptions {
  producer: FeatureProducer;
  view: string;
  /** The file to read; defaults to the path of the view's `file` data source. */
  path?: string;
  /** Where a relative data-source path is resolved from (the repo folder). */
  baseDir?: string;
  /**
   * false (default): all or nothing — a first pass validates every row; if any is invalid, nothing is
   * produced and every bad row is reported. true: one pass; good rows are produced, bad ones reported.
   */
  skipInvalid?: boolean;
  /** Rows per read batch and per append. */
  batchSize?: number;
  maxInFlight?: number;
  onProgress?: (progress: IngestProgress) => void;
  /** Every rejected row, in file order: the caller prints and writes the reject file. */
  onRejected?: (rejected: RejectedRow) => void;
}

export interface IngestSummary {
  view: string;
  topic: string;
  path: string;
  format: FeatureFileFormat;
  mapping: ColumnMapping[];
  ignoredColumns: string[];
  rows: number;
  produced: number;
  rejected: number;
  /** True when rows were invalid and, all-or-nothing, nothing was produced. */
  refused: boolean;
  skipInvalid: boolean;
  validateMs: number;
  produceMs: number;
}

/**
 * `featurelog ingest`: reads a CSV or Parquet file in batches, maps its columns to the view, checks
 * every row and produces the valid ones through the producer, reporting each bad row with its row
 * number (and CSV line) and every reason. No row is silently dropped: each is produced or rejected.
 */
export async function ingestFile(options: IngestOptions): Promise<IngestSummary> {
  const { producer, skipInvalid = false, batchSize = 1_000, onProgress, onRejected } = options;
  const target = await producer.target(options.view);
  const sourceName = target.view.source;
  const source = sourceName === undefined ? undefined : getDataSource(producer.definitions, sourceName);
  const fileSource = source?.kind === 'file' ? source : undefined;
  const path = options.path ?? resolveSourcePath(fileSource, options.baseDir, target.view.name);
  const file = await openFeatureFile(path, featureFileFormat(path, fileSource?.format));
  const { mapping, ignored } = fileColumns(target, fileSource, file.columns);
  const read = recordReader(file.format, mapping);
  const summary: IngestSummary = {
    view: target.view.name,
    topic: target.topic,
    path,
    format: file.format,
    mapping,
    ignoredColumns: ignored,
    rows: 0,
    produced: 0,
    rejected: 0,
    refused: false,
    skipInvalid,
    validateMs: 0,
    produceMs: 0,
  };
  const changed = (row: number, reason: string, produced: number) =>
    new FeaturelogError(
      'INGEST_FILE_CHANGED',
      `${path} changed between validation and production: row ${row} is now invalid (${reason}); ${produced} row(s) were produced`,
    );
  const reject = (record: FileRecord, problems: RowProblem[]) => {
    summary.rejected++;
    const values: Record<string, unknown> = {};
    for (const { column } of mapping) values[column] = record.values[column];
    onRejected?.({ row: record.row, ...(record.line === undefined ? {} : { line: record.line }), problems, values });
  };

  if (!skipInvalid) {
    const started = performance.now();
    let rows = 0;
    for await (const batch of file.batches(batchSize)) {
      for (const record of batch.records) {
        const problems = recordProblems(target, read, record);
        if (problems.length > 0) reject(record, problems);
      }
      rows += batch.records.length;
      onProgress?.({
        phase: 'validate',
        rows,
        totalRows: file.rowCount,
        fraction: batch.fraction,
        rejected: summary.rejected,
        produced: 0,
        elapsedMs: performance.now() - started,
      });
    }
    summary.rows = rows;
    summary.validateMs = performance.now() - started;
    if (summary.rejected > 0) {
      summary.refused = true;
      return summary;
    }
  }

  const started = performance.now();
  const stream = await producer.stream(options.view, {
    batchSize,
    ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}),
  });
  let rows = 0;
  const totalRows = skipInvalid ? file.rowCount : summary.rows;
  for await (const batch of file.batches(batchSize)) {
    const inputs: InputRow[] = [];
    const records: FileRecord[] = [];
    for (const record of batch.records) {
      if (record.malformed !== undefined) {
        if (!skipInvalid) {
          await stream.flush();
          throw changed(record.row, record.malformed, stream.produced);
        }
        reject(record, [malformedProblem(record.malformed)]);
        continue;
      }
      inputs.push(read(record));
      records.push(record);
    }
    const problems = await stream.write(inputs);
    if (problems.length > 0) {
      if (!skipInvalid) {
        await stream.flush();
        throw changed(records[problems[0]!.row]!.row, problems[0]!.message, stream.produced);
      }
      for (const [index, rowProblems] of groupByRow(problems)) reject(records[index]!, rowProblems);
    }
    rows += batch.records.length;
    onProgress?.({
      phase: 'produce',
      rows,
      totalRows,
      fraction: batch.fraction,
      rejected: summary.rejected,
      produced: stream.produced,
      elapsedMs: performance.now() - started,
    });
  }
  summary.produced = (await stream.close()).produced;
  summary.rows = rows;
  summary.produceMs = performance.now() - started;
  return summary;
}

function recordProblems(target: ViewTarget, read: (record: FileRecord) => InputRow, record: FileRecord): RowProblem[] {
  if (record.malformed !== undefined) return [malformedProblem(record.malformed)];
  return target.check(read(record)).problems;
}

function malformedProblem(reason: string): RowProblem {
  return { field: '*', code: 'INVALID_VALUE', message: `the record ${reason}` };
}

function groupByRow(problems: ReadonlyArray<RowProblem & { row: number }>): Map<number, RowProblem[]> {
  const byRow = new Map<number, RowProblem[]>();
  for (const { row, ...problem } of problems) {
    const list = byRow.get(row) ?? [];
    list.push(problem);
    byRow.set(row, list);
  }
  return byRow;
}

function resolveSourcePath(source: FileSource | undefined, baseDir: string | undefined, view: string): string {
  if (source === undefined) {
    throw new FeaturelogError(
      'INGEST_NO_FILE',
      `feature view "${view}" has no file data source, so name the file to ingest (featurelog ingest ${view} <file>)`,
    );
  }
  return baseDir === undefined || isAbsolute(source.path) ? source.path : resolve(baseDir, source.path);
}
