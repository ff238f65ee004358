import { encodeEntityKey, FeaturelogError, onlineStatus, type JoinKey, type OnlineStatus } from '@featurelog/domain';
import type { OnlineStore, SelectedReadRequest, StoredViewValue } from '@featurelog/online-store';
import { EPOCH_TEXT, writeTimestampJson } from './json-values';
import { JsonWriter } from './json-writer';
import { shapeOnlineArrow } from './online-arrow';
import { DEFAULT_MAX_ENTITY_ROWS, parseOnlineFeaturesRequest, type OnlineFeaturesRequest } from './online-request';
import type { CatalogSource, EntityGroup, RetrievalPlan } from './serving-catalog';

export type StatusCounts = Record<OnlineStatus, number>;

export interface OnlineFeaturesResult {
  /** The response body, Feast's shape, already serialized (UTF-8 JSON). */
  body: Buffer;
  registryVersion: number;
  /** How many feature values had each status. */
  statuses: StatusCounts;
}

export interface OnlineFeatureRetrieverOptions {
  project: string;
  store: OnlineStore;
  catalogs: CatalogSource;
  maxEntityRows?: number;
  /** Epoch microseconds; statuses are judged at this time, read once per request. */
  nowMicros?: () => number;
}

const wallClockMicros = () => Date.now() * 1_000;

/**
 * POST /get-online-features without the HTTP: parse, plan (cached per registry version), ONE
 * online-store read for every entity row × view, then a response written straight to JSON text.
 */
export class OnlineFeatureRetriever {
  readonly maxEntityRows: number;
  private readonly nowMicros: () => number;

  constructor(private readonly options: OnlineFeatureRetrieverOptions) {
    this.maxEntityRows = options.maxEntityRows ?? DEFAULT_MAX_ENTITY_ROWS;
    this.nowMicros = options.nowMicros ?? wallClockMicros;
  }

  async retrieve(body: unknown): Promise<OnlineFeaturesResult> {
    const now = this.nowMicros();
    const request = parseOnlineFeaturesRequest(body, this.maxEntityRows);
    const plan = this.options.catalogs.current().plan(request.selection, request.fullFeatureNames);
    const reads = storeRequests(plan, request);
    const replies = reads.length === 0 ? [] : await this.options.store.readStored(this.options.project, reads);
    return shapeOnlineResponse(plan, request, replies, now);
  }

  /** {@link retrieve}, answered as one Arrow IPC stream (see shapeOnlineArrow) instead of Feast's JSON. */
  async retrieveArrow(body: unknown): Promise<OnlineFeaturesResult> {
    const now = this.nowMicros();
    const request = parseOnlineFeaturesRequest(body, this.maxEntityRows);
    const plan = this.options.catalogs.current().plan(request.selection, request.fullFeatureNames);
    const reads = storeRequests(plan, request);
    const replies = reads.length === 0 ? [] : await this.options.store.readStored(this.options.project, reads);
    return shapeOnlineArrow(plan, request, replies, now);
  }
}

/** Request `i * groups + g` reads group g's views for entity row i. Throws on a missing, unexpected or mistyped join key. */
export function storeRequests(plan: RetrievalPlan, request: OnlineFeaturesRequest): SelectedReadRequest[] {
  for (const name of request.joinKeyOrder) {
    if (!plan.joinKeys.has(name)) {
      throw new FeaturelogError(
        'UNEXPECTED_JOIN_KEY',
        `"entities"."${name}" is not a join key of the requested views (they need: ${[...plan.joinKeys.keys()].join(', ')})`,
      );
    }
  }
  for (const group of plan.groups) {
    for (const key of group.joinKeys) {
      if (!(key.name in request.entities)) {
        throw new FeaturelogError(
          'MISSING_JOIN_KEY',
          `"entities" has no "${key.name}", a join key of view "${group.views.find((v) => v.joinKeys.includes(key))?.name}"`,
        );
      }
    }
  }
  const groups = plan.groups;
  const out = new Array<SelectedReadRequest>(request.rowCount * groups.length);
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g]!;
    const encode = entityKeyEncoder(group, request);
    for (let i = 0; i < request.rowCount; i++)
      out[i * groups.length + g] = { entityKey: encode(i), views: group.viewNames, features: group.viewFeatures };
  }
  return out;
}

function entityKeyEncoder(group: EntityGroup, request: OnlineFeaturesRequest): (row: number) => string {
  const keys = group.joinKeys;
  const columns = keys.map((key) => request.entities[key.name]!);
  const only = keys.length === 1 ? keys[0]! : undefined;
  if (only !== undefined && (only.type === 'int64' || only.type === 'int32')) {
    // The common shape, one integer join key: `name=<decimal>`, as encodeEntityKey writes it, without
    // its sorted copy of the keys, its array of parts and their join. Anything else takes the general path.
    const prefix = `${only.name}=`;
    const column = columns[0]!;
    const general = generalEncoder(keys, columns);
    const [min, max] =
      only.type === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
    return (row) => {
      const value = column[row];
      return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
        ? prefix + value
        : general(row);
    };
  }
  return generalEncoder(keys, columns);
}

function generalEncoder(keys: readonly JoinKey[], columns: ReadonlyArray<readonly unknown[]>): (row: number) => string {
  const values: Record<string, unknown> = {};
  return (row) => {
    for (let k = 0; k < keys.length; k++) values[keys[k]!.name] = joinKeyValue(keys[k]!, columns[k]![row], row);
    try {
      return encodeEntityKey(keys, values);
    } catch (error) {
      if (error instanceof FeaturelogError) {
        throw new FeaturelogError(error.code, `"entities" row ${row}: ${error.message}`, { cause: error });
      }
      throw error;
    }
  };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER_TEXT = /^-?[0-9]+$/;

/**
 * A join key value of the request as encodeEntityKey takes it. JSON has no bytes: bytes keys travel
 * as base64 strings. Integer keys may come as strings (Feast's JSON writes int64 as strings): a
 * string of decimal digits with an optional `-` and nothing else (no spaces, `+`, `1e3` or `1.0`)
 * within the key type's range, kept exact (a bigint past 2^53). The serving app reads JSON numbers
 * exactly (parseJsonExact): an integer past 2^53 arrives as a bigint and is taken as it is; a plain
 * JS number past 2^53 (an in-process caller) may already have lost digits, so it is refused. A
 * string key sent as a JSON number is refused rather than guessed at (`1e21`, `1.0` and `007` have
 * no one string form).
 */
function joinKeyValue(key: JoinKey, value: unknown, row: number): unknown {
  switch (key.type) {
    case 'bytes':
      if (typeof value !== 'string') return value;
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
        throw new FeaturelogError(
          'INVALID_JOIN_KEY_VALUE',
          `${where(key, row)} must be base64 (join key "${key.name}" is bytes), got ${JSON.stringify(value)}`,
        );
      }
      return new Uint8Array(Buffer.from(value, 'base64'));
    case 'int32':
    case 'int64': {
      if (
        typeof value === 'number' &&
        key.type === 'int64' &&
        Number.isInteger(value) &&
        !Number.isSafeInteger(value)
      ) {
        throw new FeaturelogError(
          'INVALID_JOIN_KEY_VALUE',
          `${where(key, row)} is ${value}, past 2^53 where a JSON number may already have lost digits: ` +
            `send int64 join key "${key.name}" values that large as strings ("9007199254740993")`,
        );
      }
      if (typeof value !== 'string' && typeof value !== 'bigint') return value;
      const integer = typeof value === 'bigint' ? value : INTEGER_TEXT.test(value) ? BigInt(value) : undefined;
      const [min, max] = key.type === 'int32' ? [-(2n ** 31n), 2n ** 31n - 1n] : [INT64_MIN, INT64_MAX];
      if (integer === undefined || integer < min || integer > max) {
        throw new FeaturelogError(
          'INVALID_JOIN_KEY_VALUE',
          `${where(key, row)} must be an integer in ${key.type} range, as a number or a string of digits ` +
            `(join key "${key.name}" is ${key.type}), got ${typeof value === 'bigint' ? value.toString() : JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`,
        );
      }
      return integer >= BigInt(Number.MIN_SAFE_INTEGER) && integer <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(integer)
        : integer;
    }
    case 'string':
      if (typeof value === 'number' || typeof value === 'boolean') {
        throw new FeaturelogError(
          'INVALID_JOIN_KEY_VALUE',
          `${where(key, row)} must be a string (join key "${key.name}" is string): send ${JSON.stringify(String(value))}, not ${String(value)}`,
        );
      }
      return value;
    default:
      return value;
  }
}

/** Where a join key value sits in the request, for an error (made only then: this runs for every value). */
function where(key: JoinKey, row: number): string {
  return `"entities"."${key.name}"[${row}]`;
}

/**
 * Feast's response: `metadata.feature_names` (join keys in request order, then features), and one
 * `results` entry per column with `values`, `statuses` and `event_timestamps` indexed by entity row.
 * Join key columns echo the request, PRESENT at the epoch. A view's status and timestamp are worked
 * out once per entity row, for all of its features; a null value of a PRESENT row is NULL_VALUE
 * (OUTSIDE_MAX_AGE stays: Feast's order), and only a column that has one gets statuses of its own.
 *
 * Written into reused buffers, from the stored texts' bytes where the store's read left them (no
 * decoding, no string per value, see storedBytesWriterFor): a view's statuses and timestamps once
 * into `pieces` (at batch 100 they are three quarters of the body), copied into every column of the
 * view; the body into `body`, copied out once at the end.
 */
export function shapeOnlineResponse(
  plan: RetrievalPlan,
  request: OnlineFeaturesRequest,
  replies: ReadonlyArray<ReadonlyArray<StoredViewValue | null>>,
  nowMicros: number,
): OnlineFeaturesResult {
  const rowCount = request.rowCount;
  const slots = plan.slots;
  const slotCount = slots.length;
  const groupCount = plan.groups.length;
  const counts: StatusCounts = { PRESENT: 0, NULL_VALUE: 0, OUTSIDE_MAX_AGE: 0, NOT_FOUND: 0 };
  const codes = scratch.codes(slotCount * rowCount);
  const bounds = scratch.bounds(slotCount * 3);
  const pieces = scratch.pieces;
  pieces.reset();
  for (let s = 0; s < slotCount; s++) {
    const slot = slots[s]!;
    const columns = plan.columnsPerSlot[s]!;
    bounds[s * 3] = pieces.length;
    pieces.raw(',"statuses":[');
    for (let i = 0; i < rowCount; i++) {
      const value = replies[i * groupCount + slot.group]?.[slot.index] ?? null;
      const status = onlineStatus(value?.version, slot.view.ttlSeconds, nowMicros);
      const code = STATUS_CODES[status];
      codes[s * rowCount + i] = code;
      if (i > 0) pieces.byte(COMMA);
      pieces.raw(STATUS_TEXTS[code]!);
      counts[status] += columns;
    }
    pieces.raw('],"event_timestamps":');
    bounds[s * 3 + 1] = pieces.length;
    pieces.byte(OPEN_LIST);
    for (let i = 0; i < rowCount; i++) {
      const value = replies[i * groupCount + slot.group]?.[slot.index] ?? null;
      if (i > 0) pieces.byte(COMMA);
      if (value === null) pieces.raw(EPOCH_TEXT);
      else writeTimestampJson(pieces, value.version.eventTimestamp);
    }
    pieces.raw(']}');
    bounds[s * 3 + 2] = pieces.length;
  }

  const out = scratch.body;
  out.reset();
  const order = request.joinKeyOrder;
  const orderKey = order.length === 1 ? order[0]! : order.join('\u0000');
  let header = plan.headerCache.get(orderKey);
  if (header === undefined) {
    header = Buffer.from(
      `{"metadata":{"feature_names":${JSON.stringify([...order, ...plan.columns.map((c) => c.name)])}},"results":[`,
    );
    plan.headerCache.set(orderKey, header);
  }
  out.bytes(header);
  let first = true;
  for (const key of order) {
    const values = request.entities[key]!;
    out.raw(first ? '{"values":[' : ',{"values":[');
    for (let i = 0; i < rowCount; i++) {
      if (i > 0) out.byte(COMMA);
      writeRequestValue(out, values[i]);
    }
    out.raw('],"statuses":[');
    for (let i = 0; i < rowCount; i++) out.raw(i === 0 ? STATUS_JSON.PRESENT : PRESENT_AFTER_COMMA);
    out.raw('],"event_timestamps":[');
    for (let i = 0; i < rowCount; i++) out.raw(i === 0 ? EPOCH_TEXT : EPOCH_AFTER_COMMA);
    out.raw(']}');
    first = false;
  }
  const nullRows = scratch.nullRows(rowCount);
  for (const column of plan.columns) {
    const at = column.storedIndex;
    const write = column.writeStored;
    const s = column.slot;
    const slot = slots[s]!;
    let nulls = false;
    out.raw(first ? '{"values":[' : ',{"values":[');
    for (let i = 0; i < rowCount; i++) {
      if (i > 0) out.byte(COMMA);
      const value = replies[i * groupCount + slot.group]?.[slot.index] ?? null;
      if (value === null) {
        out.raw('null');
      } else {
        // An empty text is null: a null value, or a feature the winning row does not have.
        const start = value.spans[value.at + 2 * at]!;
        const end = value.spans[value.at + 2 * at + 1]!;
        if (start === end) {
          nulls = true;
          out.raw('null');
        } else write(out, value.bytes, start, end);
      }
      nullRows[i] = out.endsWithNull() ? 1 : 0;
    }
    out.byte(CLOSE_LIST);
    if (nulls) {
      // The view's statuses, with NULL_VALUE where a PRESENT row's value is null.
      out.raw(',"statuses":[');
      for (let i = 0; i < rowCount; i++) {
        if (i > 0) out.byte(COMMA);
        let code = codes[s * rowCount + i]!;
        if (code === PRESENT_CODE && nullRows[i] === 1) {
          code = NULL_VALUE_CODE;
          counts.PRESENT--;
          counts.NULL_VALUE++;
        }
        out.raw(STATUS_TEXTS[code]!);
      }
      out.raw('],"event_timestamps":');
      out.copyFrom(pieces, bounds[s * 3 + 1]!, bounds[s * 3 + 2]!);
    } else {
      out.copyFrom(pieces, bounds[s * 3]!, bounds[s * 3 + 2]!);
    }
    first = false;
  }
  out.raw(']}');
  return { body: out.finish(), registryVersion: plan.registryVersion, statuses: counts };
}

/** A join key value echoed from the request; an int64 past 2^53 read exactly from the request's JSON number echoes as that number, digit for digit. */
function writeRequestValue(out: JsonWriter, value: unknown): void {
  if (typeof value === 'string') out.string(value);
  else if (typeof value === 'bigint') out.raw(value.toString());
  else if (typeof value === 'number' && Number.isFinite(value)) out.raw(String(value));
  else out.raw(JSON.stringify(value) ?? 'null');
}

/** The answer path's reused memory (answers are written synchronously, one at a time). */
const scratch = new (class {
  readonly body = new JsonWriter();
  readonly pieces = new JsonWriter();
  private codeArray = new Uint8Array(1_024);
  private boundArray = new Int32Array(64);
  private nullArray = new Uint8Array(1_024);

  /** A status code per (view, row). */
  codes(size: number): Uint8Array {
    if (this.codeArray.length < size) this.codeArray = new Uint8Array(size);
    return this.codeArray;
  }

  /** Per view: where its statuses, its timestamps and its end are in `pieces`. */
  bounds(size: number): Int32Array {
    if (this.boundArray.length < size) this.boundArray = new Int32Array(size);
    return this.boundArray;
  }

  /** Per row of the column being written: 1 where its value was written as null. */
  nullRows(size: number): Uint8Array {
    if (this.nullArray.length < size) this.nullArray = new Uint8Array(size);
    return this.nullArray;
  }
})();

const COMMA = 0x2c;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;

const STATUS_JSON: Record<OnlineStatus, string> = {
  PRESENT: '"PRESENT"',
  NULL_VALUE: '"NULL_VALUE"',
  OUTSIDE_MAX_AGE: '"OUTSIDE_MAX_AGE"',
  NOT_FOUND: '"NOT_FOUND"',
};
const STATUS_CODES: Record<OnlineStatus, number> = { PRESENT: 0, NULL_VALUE: 1, OUTSIDE_MAX_AGE: 2, NOT_FOUND: 3 };
const STATUS_TEXTS = [STATUS_JSON.PRESENT, STATUS_JSON.NULL_VALUE, STATUS_JSON.OUTSIDE_MAX_AGE, STATUS_JSON.NOT_FOUND];
const PRESENT_CODE = STATUS_CODES.PRESENT;
const NULL_VALUE_CODE = STATUS_CODES.NULL_VALUE;
const PRESENT_AFTER_COMMA = `,${STATUS_JSON.PRESENT}`;
const EPOCH_AFTER_COMMA = `,${EPOCH_TEXT}`;
