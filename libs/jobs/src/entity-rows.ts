import { FeaturelogError, parseTimestampText, type ValueType } from '@featurelog/domain';
import type { ExportPlan } from './export-plan';

/** What a CSV column's text turned out to be, judged over every row. */
interface TextColumnShape {
  integers: boolean;
  numbers: boolean;
  booleans: boolean;
  seen: boolean;
}

/**
 * Checks and types raw entity-file rows in place (event_timestamp as epoch µs, join keys as their type), refusing (with the row number) a missing or
 * unparseable timestamp and a join key that does not fit its type. Tracks the time range of the rows and,
 * for CSV, the narrowest type each extra column's text fits (int64, float64, bool, else string).
 */
export class EntityRowDecoder {
  private nextIndex = 0;
  minTimestamp = Number.POSITIVE_INFINITY;
  maxTimestamp = Number.NEGATIVE_INFINITY;
  private readonly keyColumns: { name: string; index: number; type: ValueType }[];
  private readonly textShapes: Map<number, TextColumnShape> | undefined;

  constructor(private readonly plan: ExportPlan) {
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

  /** Types each row of `raw` in place; returns their timestamps (µs). */
  decode(raw: readonly unknown[][]): number[] {
    const out = new Array<number>(raw.length);
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
      for (const key of this.keyColumns) values[key.index] = this.joinKeyOf(key, values[key.index], rowIndex);
      if (this.textShapes !== undefined) this.observeText(values);
      out[r] = timestamp;
    }
    return out;
  }

  /**
   * {@link decode} for rows given as columns (a Parquet file's, so no text to judge): the timestamp and
   * join key columns must be plain arrays, typed in place. Returns the timestamps (µs).
   */
  decodeColumns(columns: readonly ArrayLike<unknown>[], length: number): number[] {
    const out = new Array<number>(length);
    const times = columns[this.plan.timestampIndex] as unknown[];
    const keys = this.keyColumns.map((key) => ({ key, values: columns[key.index] as unknown[] }));
    for (let r = 0; r < length; r++) {
      const rowIndex = this.nextIndex++;
      const timestamp = this.timestampOf(times[r], rowIndex);
      times[r] = timestamp;
      if (timestamp < this.minTimestamp) this.minTimestamp = timestamp;
      if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
      for (const { key, values } of keys) values[r] = this.joinKeyOf(key, values[r], rowIndex);
      out[r] = timestamp;
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

/** Consecutive entity rows, typed in place, with their times: the unit one join works on. */
export interface EntityFrame {
  length: number;
  /** The file's columns, typed (see EntityRowDecoder), in file order. */
  columns: unknown[][];
  timestamps: Float64Array;
  minTimestamp: number;
  maxTimestamp: number;
}

/**
 * The entity file in frames of at most `frameSize` rows, in file order: each frame is joined whole in
 * memory and written out before the next is read, so memory holds one frame however long the file is
 * (a longer file only re-reads the history once per frame).
 */
export class EntityFrames {
  private readonly decoder: EntityRowDecoder;
  private iterator: AsyncIterator<unknown[][]> | undefined;
  private leftover: unknown[][] = [];
  private ended = false;
  private first: EntityFrame | undefined;
  private columnIterator: AsyncIterator<ArrayLike<unknown>[]> | undefined;
  private leftoverColumns: ArrayLike<unknown>[] | undefined;

  constructor(
    private readonly plan: ExportPlan,
    private readonly frameSize: number,
  ) {
    this.decoder = new EntityRowDecoder(plan);
  }

  /** Rows read so far. */
  get rowCount(): number {
    return this.decoder.rowCount;
  }

  /**
   * The type each entity column is written with, before any row is written: a CSV file longer than one
   * frame is scanned once first, since a column's type is judged over every row.
   */
  async columnTypes(): Promise<ValueType[]> {
    this.first = await this.read();
    if (this.plan.entityFile.format !== 'csv' || this.ended) return this.decoder.columnTypes();
    const scan = new EntityRowDecoder(this.plan);
    for await (const raw of this.plan.entityFile.rows()) scan.decode(raw);
    return scan.columnTypes();
  }

  async next(
    progress: (progress: { phase: string; done: number; total: number }) => void,
  ): Promise<EntityFrame | undefined> {
    if (this.first !== undefined) {
      const frame = this.first;
      this.first = undefined;
      return frame;
    }
    const frame = await this.read();
    progress({ phase: 'reading entity rows', done: this.rowCount, total: this.rowCount });
    return frame;
  }

  async close(): Promise<void> {
    await this.iterator?.return?.();
    await this.columnIterator?.return?.();
  }

  private async fetch(): Promise<unknown[][] | undefined> {
    this.iterator ??= this.plan.entityFile.rows()[Symbol.asyncIterator]();
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return undefined;
      }
      if (next.value.length > 0) return next.value;
    }
  }

  private async read(): Promise<EntityFrame | undefined> {
    if (this.plan.entityFile.columnBatches !== undefined) return this.readColumns();
    const columns: unknown[][] = this.plan.entityFile.columns.map(() => []);
    const times: number[] = [];
    while (times.length < this.frameSize) {
      const batch = this.leftover.length > 0 ? this.leftover : this.ended ? undefined : await this.fetch();
      if (batch === undefined) break;
      const room = this.frameSize - times.length;
      const take = batch.length <= room ? batch : batch.slice(0, room);
      this.leftover = batch.length <= room ? [] : batch.slice(room);
      const timestamps = this.decoder.decode(take);
      for (let r = 0; r < take.length; r++) {
        const row = take[r]!;
        for (let c = 0; c < columns.length; c++) columns[c]!.push(row[c]);
        times.push(timestamps[r]!);
      }
    }
    if (this.leftover.length === 0 && !this.ended) this.leftover = (await this.fetch()) ?? [];
    return frameOf(columns, times);
  }

  /** A frame from column batches (Parquet): no array per row on the way. */
  private async readColumns(): Promise<EntityFrame | undefined> {
    const columns: unknown[][] = this.plan.entityFile.columns.map(() => []);
    const times: number[] = [];
    const typed = new Set([
      this.plan.timestampIndex,
      ...[...this.plan.joinKeyColumns.values()].map((key) => key.index),
    ]);
    while (times.length < this.frameSize) {
      let batch = this.leftoverColumns;
      if (batch === undefined && !this.ended) {
        this.columnIterator ??= this.plan.entityFile.columnBatches!()[Symbol.asyncIterator]();
        const next = await this.columnIterator.next();
        if (next.done) this.ended = true;
        // Timestamps and join keys are typed in place: they need plain arrays.
        else batch = next.value.map((column, c) => (typed.has(c) ? Array.from(column) : column));
      }
      if (batch === undefined) break;
      const length = batch[0]?.length ?? 0;
      const take = Math.min(length, this.frameSize - times.length);
      const head = take === length ? batch : batch.map((column) => sliceOf(column, 0, take));
      this.leftoverColumns = take === length ? undefined : batch.map((column) => sliceOf(column, take, length));
      const timestamps = this.decoder.decodeColumns(head, take);
      for (let c = 0; c < columns.length; c++) {
        const column = columns[c]!;
        const values = head[c]!;
        for (let r = 0; r < take; r++) column.push(values[r]);
      }
      for (let r = 0; r < take; r++) times.push(timestamps[r]!);
    }
    return frameOf(columns, times);
  }
}

function sliceOf(column: ArrayLike<unknown>, start: number, end: number): unknown[] {
  return Array.prototype.slice.call(column, start, end) as unknown[];
}

function frameOf(columns: unknown[][], times: number[]): EntityFrame | undefined {
  if (times.length === 0) return undefined;
  const timestamps = Float64Array.from(times);
  let minTimestamp = Number.POSITIVE_INFINITY;
  let maxTimestamp = Number.NEGATIVE_INFINITY;
  for (const t of timestamps) {
    if (t < minTimestamp) minTimestamp = t;
    if (t > maxTimestamp) maxTimestamp = t;
  }
  return { length: times.length, columns, timestamps, minTimestamp, maxTimestamp };
}
