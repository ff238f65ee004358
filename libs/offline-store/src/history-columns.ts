import { FeaturelogError, listElementType, type FeatureValue, type ValueType } from '@featurelog/domain';
import { readHistoryColumns, scanSegmentRowGroups } from './segment-column-scan';
import type { SegmentColumn, SegmentSchema } from './segment-schema';
import type { ColumnKey, HistoryColumns } from '@featurelog/pit';
import { sortableEntityKey } from './sortable-entity-key';

/**
 * How a pass's entity key is held in columns: a number when the pass has one integer join key (the
 * segment order is then numeric order), else the {@link sortableEntityKey} string. Entity rows and
 * history rows of a pass use the same form, so `<` on them is the segment order.
 */
export type KeyForm = 'number' | 'string';

export function keyFormOf(joinKeys: readonly SegmentColumn[]): KeyForm {
  return joinKeys.length === 1 && (joinKeys[0]!.type === 'int64' || joinKeys[0]!.type === 'int32')
    ? 'number'
    : 'string';
}

/**
 * The key of one row in `form`, from its typed join key values; null when a key is missing (such an
 * entity row matches nothing).
 */
export function columnKeyOf(
  form: KeyForm,
  joinKeys: readonly SegmentColumn[],
  values: Readonly<Record<string, unknown>>,
): ColumnKey | null {
  for (const key of joinKeys) if (values[key.name] === null || values[key.name] === undefined) return null;
  if (form === 'number') return values[joinKeys[0]!.name] as number;
  return sortableEntityKey(joinKeys, values);
}

/** Turns a decoded Parquet value of a feature into the domain's: bigint → number, lists element-wise. */
export function featureValueConverter(types: readonly ValueType[]): (feature: number, value: unknown) => FeatureValue {
  const lists = types.map((type) => listElementType(type) !== undefined);
  return (feature, value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'bigint') return Number(value);
    if (lists[feature]) return (value as unknown[]).map((item) => plain(item));
    return value as FeatureValue;
  };
}

/** 64-bit integers come back from hyparquet as bigint; the domain holds them as safe-integer numbers. */
export function plain(value: unknown): FeatureValue {
  if (value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  return value as FeatureValue;
}

export interface SegmentColumnsReadOptions {
  /** The features wanted, in the order of the chunk's feature columns. */
  features: readonly string[];
  keyForm: KeyForm;
  /** Also decode `__append_time` (as served). */
  withAppendTime?: boolean;
  /** Rows whose partition offset is at or past this are dropped (a segment that reaches past the watermark). */
  keep?: (partition: number, offset: number) => boolean;
}

/**
 * Reads a segment as {@link HistoryColumns}, one row group at a time, decoding only the columns the join
 * needs: no object per row. The file is plain Parquet in the segment layout (segment-schema.ts), sorted
 * in segment order; its checksum was verified first.
 */
export async function* readSegmentColumns(
  path: string,
  schema: SegmentSchema,
  { features, keyForm, withAppendTime = false, keep }: SegmentColumnsReadOptions,
): AsyncGenerator<HistoryColumns> {
  const featureTypes = features.map((name) => {
    const column = schema.features.find((feature) => feature.name === name);
    if (column === undefined) {
      throw new FeaturelogError('SEGMENT_SCHEMA_MISMATCH', `segment file ${path} has no feature column "${name}"`);
    }
    return column.type;
  });
  const featureValue = featureValueConverter(featureTypes);
  const keyNames = schema.joinKeys.map((key) => key.name);
  for await (const group of scanSegmentRowGroups(path, { rawMicros: true })) {
    const { rows } = group;
    const {
      keys,
      events,
      created,
      partitions,
      offsets,
      appended,
      sourcePositions,
      features: values,
    } = await readHistoryColumns(group, keyNames, features, withAppendTime, {
      sourcePositions: schema.changes === true,
    });
    let kept: number[] | undefined;
    if (keep !== undefined) {
      kept = [];
      for (let i = 0; i < rows; i++) if (keep(Number(partitions[i]), Number(offsets[i]))) kept.push(i);
    }
    const length = kept === undefined ? rows : kept.length;
    const at = kept === undefined ? (i: number) => i : (i: number) => kept[i]!;
    const chunk: HistoryColumns = {
      length,
      keys: keyColumn(keyForm, schema.joinKeys, keys, length, at),
      eventTimestamps: numbers(events, length, at, 0),
      createdTimestamps: numbers(created, length, at, Number.NEGATIVE_INFINITY),
      partitions: numbers(partitions, length, at, 0),
      offsets: numbers(offsets, length, at, 0),
      appendedAt: appended === undefined ? null : numbers(appended, length, at, 0),
      sourcePositions: sourcePositions === undefined ? null : texts(sourcePositions, length, at),
      features: kept === undefined ? values : values.map((column) => kept.map((i) => column[i])),
      featureValue,
    };
    if (length > 0) yield chunk;
  }
}

function numbers(column: ArrayLike<unknown>, length: number, at: (i: number) => number, ifNull: number): Float64Array {
  const out = new Float64Array(length);
  if (column instanceof BigInt64Array) {
    // Each value from its two 32-bit halves (little-endian, as Node runs): exact for safe integers, no bigint made.
    const words = new Int32Array(column.buffer, column.byteOffset, column.length * 2);
    for (let i = 0; i < length; i++) {
      const row = at(i);
      out[i] = words[2 * row + 1]! * 4294967296 + (words[2 * row]! >>> 0);
    }
    return out;
  }
  if (column instanceof Int32Array || column instanceof Float64Array) {
    for (let i = 0; i < length; i++) out[i] = column[at(i)]!;
    return out;
  }
  for (let i = 0; i < length; i++) {
    const value = column[at(i)];
    out[i] = value === null || value === undefined ? ifNull : Number(value);
  }
  return out;
}

/** A nullable string column (source positions), null for a row without one; null when no row has one. */
function texts(column: ArrayLike<unknown>, length: number, at: (i: number) => number): (string | null)[] | null {
  let any = false;
  const out = new Array<string | null>(length);
  for (let i = 0; i < length; i++) {
    const value = column[at(i)];
    const text = typeof value === 'string' ? value : value instanceof Uint8Array ? Buffer.from(value).toString() : null;
    out[i] = text;
    if (text !== null) any = true;
  }
  return any ? out : null;
}

function keyColumn(
  form: KeyForm,
  joinKeys: readonly SegmentColumn[],
  columns: ArrayLike<unknown>[],
  length: number,
  at: (i: number) => number,
): ArrayLike<ColumnKey> {
  if (form === 'number') return numbers(columns[0]!, length, at, Number.NEGATIVE_INFINITY);
  const out = new Array<string>(length);
  const values: Record<string, unknown> = {};
  for (let i = 0; i < length; i++) {
    const row = at(i);
    for (let k = 0; k < joinKeys.length; k++) values[joinKeys[k]!.name] = plain(columns[k]![row]);
    out[i] = sortableEntityKey(joinKeys, values);
  }
  return out;
}

/** A segment file hyparquet cannot decode: SEGMENT_CORRUPT naming the path. */
