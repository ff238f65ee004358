import { FeaturelogError, type FeatureValue, type ValueType } from '@featurelog/domain';
import type { EntityRow } from '@featurelog/pit';
import type { ExportPlan, PlannedView } from './export-plan';
import { sortableEntityKey } from './sortable-entity-key';
import { parseTimestampText } from './timestamp-text';

/**
 * An entity row on its way through the export: `values` holds the file's columns in file order (join keys
 * and `event_timestamp` already typed), carried through the join untouched; `entityKeys` holds one
 * {@link sortableEntityKey} per pass. `columns` stays empty: one array is cheaper to spill than a record.
 */
export interface FrameRow extends EntityRow {
  values: unknown[];
}

const NO_COLUMNS: Readonly<Record<string, unknown>> = Object.freeze({});

/** What a CSV column's text turned out to be, judged over every row. */
interface TextColumnShape {
  integers: boolean;
  numbers: boolean;
  booleans: boolean;
  seen: boolean;
}

/**
 * Turns raw entity-file rows into {@link FrameRow}s, refusing (with the row number) a missing or
 * unparseable timestamp and a join key that does not fit its type. Tracks the time range of the rows and,
 * for CSV, the narrowest type each extra column's text fits (int64, float64, bool, else string).
 */
export class EntityRowDecoder {
  private nextIndex = 0;
  minTimestamp = Number.POSITIVE_INFINITY;
  maxTimestamp = Number.NEGATIVE_INFINITY;
  private readonly passes: { keyName: string; joinKeys: PlannedView['joinKeys'] }[];
  private readonly keyColumns: { name: string; index: number; type: ValueType }[];
  private readonly textShapes: Map<number, TextColumnShape> | undefined;

  constructor(private readonly plan: ExportPlan) {
    const passes = new Map<string, PlannedView['joinKeys']>();
    for (const view of plan.views) passes.set(view.keyName, view.joinKeys);
    this.passes = [...passes].map(([keyName, joinKeys]) => ({ keyName, joinKeys }));
    this.keyColumns = [...plan.joinKeyColumns].map(([name, { index, type }]) => ({ name, index, type }));
    if (plan.entityFile.format === 'csv') {
      const special = new Set([plan.timestampIndex, ...this.keyColumns.map((key) => key.index)]);
      this.textShapes = new Map(
        plan.entityFile.columns
          .map((_column, index) => index)
          .filter((index) => !special.has(index))
          .map((index) => [index, { integers: true, numbers: true, booleans: true, seen: false }]),
      );
    }
  }

  get rowCount(): number {
    return this.nextIndex;
  }

  decode(raw: readonly unknown[][]): FrameRow[] {
    const out = new Array<FrameRow>(raw.length);
    const file = this.plan.entityFile;
    for (let r = 0; r < raw.length; r++) {
      const values = raw[r] as unknown[];
      const rowIndex = this.nextIndex++;
      if (values.length !== file.columns.length) {
        throw new FeaturelogError(
          'ENTITY_FILE_INVALID',
          `entity file ${file.path}, row ${rowIndex + 1}: ${values.length} values for ${file.columns.length} columns`,
        );
      }
      const timestamp = this.timestampOf(values[this.plan.timestampIndex], rowIndex);
      values[this.plan.timestampIndex] = timestamp;
      if (timestamp < this.minTimestamp) this.minTimestamp = timestamp;
      if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
      const keyValues: Record<string, unknown> = {};
      for (const key of this.keyColumns) {
        const value = this.joinKeyOf(key, values[key.index], rowIndex);
        values[key.index] = value;
        keyValues[key.name] = value;
      }
      const entityKeys: Record<string, string> = {};
      for (const pass of this.passes) entityKeys[pass.keyName] = sortableEntityKey(pass.joinKeys, keyValues);
      if (this.textShapes !== undefined) this.observeText(values);
      out[r] = { rowIndex, timestamp, entityKeys, columns: NO_COLUMNS, values };
    }
    return out;
  }

  /** The type each entity column is written with; call after every row was decoded. */
  columnTypes(): ValueType[] {
    return this.plan.entityFile.columns.map((column, index) => {
      if (index === this.plan.timestampIndex) return 'timestamp';
      const key = this.keyColumns.find((candidate) => candidate.index === index);
      if (key !== undefined) return key.type;
      const shape = this.textShapes?.get(index);
      if (shape !== undefined) {
        if (!shape.seen) return 'string';
        return shape.integers ? 'int64' : shape.numbers ? 'float64' : shape.booleans ? 'bool' : 'string';
      }
      return column.type ?? 'string';
    });
  }

  private observeText(values: unknown[]): void {
    for (const [index, shape] of this.textShapes!) {
      const text = values[index];
      if (typeof text !== 'string') continue;
      shape.seen = true;
      if (shape.integers && !(INTEGER_TEXT.test(text) && Number.isSafeInteger(Number(text)))) shape.integers = false;
      if (shape.numbers && !(NUMBER_TEXT.test(text) && Number.isFinite(Number(text)))) shape.numbers = false;
      if (shape.booleans && !BOOLEAN_TEXT.test(text)) shape.booleans = false;
    }
  }

  private timestampOf(value: unknown, rowIndex: number): number {
    let micros: number | undefined;
    if (typeof value === 'number') micros = Number.isSafeInteger(value) ? value : undefined;
    else if (typeof value === 'bigint') micros = Number(value);
    else if (value instanceof Date) micros = Number.isNaN(value.getTime()) ? undefined : value.getTime() * 1000;
    else if (typeof value === 'string') micros = parseTimestampText(value);
    if (micros === undefined) {
      throw new FeaturelogError(
        'ENTITY_TIMESTAMP_INVALID',
        `entity file ${this.plan.entityFile.path}, row ${rowIndex + 1}: "${ENTITY_TIMESTAMP_NAME}" ` +
          (value === null || value === undefined
            ? 'is empty'
            : `${JSON.stringify(String(value))} is not a timestamp (expected e.g. 2025-01-31T12:00:00[.123456][Z|+01:00]; no zone means UTC)`),
      );
    }
    return micros;
  }

  private joinKeyOf(key: { name: string; type: ValueType }, value: unknown, rowIndex: number): unknown {
    if (value === null || value === undefined) return null;
    const converted = convertJoinKey(key.type, value);
    if (converted === undefined) {
      throw new FeaturelogError(
        'ENTITY_JOIN_KEY_INVALID',
        `entity file ${this.plan.entityFile.path}, row ${rowIndex + 1}: join key "${key.name}" is ${key.type}, ` +
          `but the row holds ${JSON.stringify(typeof value === 'bigint' ? String(value) : value)}`,
      );
    }
    return converted;
  }
}

const ENTITY_TIMESTAMP_NAME = 'event_timestamp';
const INTEGER_TEXT = /^-?\d+$/;
const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const BOOLEAN_TEXT = /^(true|false)$/i;
const HEX_TEXT = /^([0-9a-fA-F]{2})*$/;
const INT32 = 2 ** 31;

function convertJoinKey(type: ValueType, value: unknown): unknown {
  switch (type) {
    case 'int32':
    case 'int64': {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'bigint'
            ? Number(value)
            : typeof value === 'string' && INTEGER_TEXT.test(value.trim())
              ? Number(value.trim())
              : NaN;
      if (!Number.isSafeInteger(number)) return undefined;
      if (type === 'int32' && (number < -INT32 || number >= INT32)) return undefined;
      return number;
    }
    case 'string':
      return typeof value === 'string' ? value : undefined;
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && BOOLEAN_TEXT.test(value)) return value.toLowerCase() === 'true';
      return undefined;
    case 'bytes':
      if (value instanceof Uint8Array) return value;
      if (typeof value === 'string' && HEX_TEXT.test(value)) return Uint8Array.from(Buffer.from(value, 'hex'));
      return undefined;
    default:
      return undefined;
  }
}

/** Converts a CSV cell to the type {@link EntityRowDecoder.columnTypes} chose for its column. */
export function textAs(type: ValueType, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  switch (type) {
    case 'int64':
    case 'float64':
      return Number(value);
    case 'bool':
      return value.toLowerCase() === 'true';
    default:
      return value;
  }
}

/** A frame of FrameRows as columns: what the entity sorters spill (see ExternalSorter's frameCodec). */
interface FrameColumns {
  rowIndex: Float64Array;
  timestamp: Float64Array;
  keyNames: string[];
  keys: string[][];
  values: unknown[][];
  views: { name: string; features: string[]; columns: FeatureValue[][] }[];
}

/**
 * Lays a frame of entity rows out as columns for spilling. Every row of one sorter went through the same
 * passes, so the first row's key names, width and joined views describe them all.
 */
export const frameRowCodec = {
  encode(rows: FrameRow[]): FrameColumns {
    const n = rows.length;
    const first = rows[0];
    const keyNames = first ? Object.keys(first.entityKeys) : [];
    const width = first ? first.values.length : 0;
    const views = Object.entries(first?.features ?? {}).map(([name, values]) => ({
      name,
      features: Object.keys(values),
      columns: Object.keys(values).map(() => new Array<FeatureValue>(n)),
    }));
    const out: FrameColumns = {
      rowIndex: new Float64Array(n),
      timestamp: new Float64Array(n),
      keyNames,
      keys: keyNames.map(() => new Array<string>(n)),
      values: Array.from({ length: width }, () => new Array<unknown>(n)),
      views,
    };
    for (let i = 0; i < n; i++) {
      const row = rows[i]!;
      out.rowIndex[i] = row.rowIndex;
      out.timestamp[i] = row.timestamp;
      for (let k = 0; k < keyNames.length; k++) out.keys[k]![i] = row.entityKeys[keyNames[k]!]!;
      for (let c = 0; c < width; c++) out.values[c]![i] = row.values[c];
      for (const view of views) {
        const values = row.features![view.name]!;
        for (let f = 0; f < view.features.length; f++) view.columns[f]![i] = values[view.features[f]!] ?? null;
      }
    }
    return out;
  },
  decode(frame: unknown): FrameRow[] {
    const { rowIndex, timestamp, keyNames, keys, values, views } = frame as FrameColumns;
    const rows = new Array<FrameRow>(rowIndex.length);
    for (let i = 0; i < rowIndex.length; i++) {
      const entityKeys: Record<string, string> = {};
      for (let k = 0; k < keyNames.length; k++) entityKeys[keyNames[k]!] = keys[k]![i]!;
      const row: FrameRow = {
        rowIndex: rowIndex[i]!,
        timestamp: timestamp[i]!,
        entityKeys,
        columns: NO_COLUMNS,
        values: values.map((column) => column[i]),
      };
      if (views.length > 0) {
        const features: Record<string, Record<string, FeatureValue>> = {};
        for (const view of views) {
          const record: Record<string, FeatureValue> = {};
          for (let f = 0; f < view.features.length; f++) record[view.features[f]!] = view.columns[f]![i]!;
          features[view.name] = record;
        }
        row.features = features;
      }
      rows[i] = row;
    }
    return rows;
  },
};
