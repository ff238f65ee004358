import { encodeEntityKey, FeaturelogError, onlineStatus, type JoinKey, type OnlineStatus } from '@featurelog/domain';
import type { OnlineStore, SelectedReadRequest, StoredViewValue } from '@featurelog/online-store';
import { EPOCH_TEXT, timestampJson } from './json-values';
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
  const where = `"entities"."${key.name}"[${row}]`;
  switch (key.type) {
    case 'bytes':
      if (typeof value !== 'string') return value;
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
        throw new FeaturelogError(
          'INVALID_JOIN_KEY_VALUE',
          `${where} must be base64 (join key "${key.name}" is bytes), got ${JSON.stringify(value)}`,
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
          `${where} is ${value}, past 2^53 where a JSON number may already have lost digits: ` +
            `send int64 join key "${key.name}" values that large as strings ("9007199254740993")`,
        );
      }
      if (typeof value !== 'string' && typeof value !== 'bigint') return value;
      const integer = typeof value === 'bigint' ? value : INTEGER_TEXT.test(value) ? BigInt(value) : undefined;
      const [min, max] = key.type === 'int32' ? [-(2n ** 31n), 2n ** 31n - 1n] : [INT64_MIN, INT64_MAX];
      if (integer === undefined || integer < min || integer > max) {
        throw new FeaturelogError(
          'INVALID_JOIN_KEY_VALUE',
          `${where} must be an integer in ${key.type} range, as a number or a string of digits ` +
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
          `${where} must be a string (join key "${key.name}" is string): send ${JSON.stringify(String(value))}, not ${String(value)}`,
        );
      }
      return value;
    default:
      return value;
  }
}

/**
 * Feast's response: `metadata.feature_names` (join keys in request order, then features), and one
 * `results` entry per column with `values`, `statuses` and `event_timestamps` indexed by entity row.
 * Join key columns echo the request, PRESENT at the epoch. A view's status and timestamp are worked
 * out once per entity row, for all of its features; a null value of a PRESENT row is NULL_VALUE
 * (OUTSIDE_MAX_AGE stays: Feast's order), and only a column that has one gets statuses of its own.
 */
export function shapeOnlineResponse(
  plan: RetrievalPlan,
  request: OnlineFeaturesRequest,
  replies: ReadonlyArray<ReadonlyArray<StoredViewValue | null>>,
  nowMicros: number,
): OnlineFeaturesResult {
  const rowCount = request.rowCount;
  const slots = plan.slots;
  const groupCount = plan.groups.length;
  const cells = rowCount * slots.length;
  const found = new Array<StoredViewValue | null>(cells);
  // Statuses and timestamps are the same for every column of a view: written once per view, as
  // bytes that every column of the view copies (at batch 100 they are three quarters of the body).
  const slotStatuses = new Array<Buffer>(slots.length);
  const slotStatusRows = new Array<string[]>(slots.length);
  const slotTimes = new Array<Buffer>(slots.length);
  const slotCounts: StatusCounts = { PRESENT: 0, NULL_VALUE: 0, OUTSIDE_MAX_AGE: 0, NOT_FOUND: 0 };
  const times = new Array<string>(rowCount);
  let repeatedBytes = 0;
  for (let s = 0; s < slots.length; s++) {
    const slot = slots[s]!;
    const statuses = (slotStatusRows[s] = new Array<string>(rowCount));
    for (let i = 0; i < rowCount; i++) {
      const value = replies[i * groupCount + slot.group]?.[slot.index] ?? null;
      const status = onlineStatus(value?.version, slot.view.ttlSeconds, nowMicros);
      found[i * slots.length + s] = value;
      statuses[i] = STATUS_JSON[status];
      times[i] = value === null ? EPOCH_TEXT : timestampJson(value.version.eventTimestamp);
      slotCounts[status] += plan.columnsPerSlot[s]!;
    }
    slotStatuses[s] = Buffer.from(`,"statuses":[${statuses.join(',')}],"event_timestamps":`, 'latin1');
    slotTimes[s] = Buffer.from(`[${times.join(',')}]}`, 'latin1');
    repeatedBytes += (slotStatuses[s]!.length + slotTimes[s]!.length) * plan.columnsPerSlot[s]!;
  }

  const orderKey = request.joinKeyOrder.join('\u0000');
  let header = plan.headerCache.get(orderKey);
  if (header === undefined) {
    header = `{"metadata":{"feature_names":${JSON.stringify([...request.joinKeyOrder, ...plan.columns.map((c) => c.name)])}},"results":[`;
    plan.headerCache.set(orderKey, header);
  }
  const out = new ResponseWriter(header.length * 3 + repeatedBytes + (plan.columns.length + 2) * (rowCount * 24 + 64));
  out.text(header);
  const presentRow = repeatJson('"PRESENT"', rowCount);
  const epochRow = repeatJson(EPOCH_TEXT, rowCount);
  let first = true;
  for (const key of request.joinKeyOrder) {
    const values = request.entities[key]!;
    let text = '';
    for (let i = 0; i < rowCount; i++) {
      const value = values[i];
      // An int64 past 2^53 read exactly from the request's JSON number echoes as that number, digit for digit.
      text += (i === 0 ? '' : ',') + (typeof value === 'bigint' ? value.toString() : (JSON.stringify(value) ?? 'null'));
    }
    out.text(`${first ? '' : ','}{"values":[${text}],"statuses":${presentRow},"event_timestamps":${epochRow}}`);
    first = false;
  }
  // Joined from arrays, not concatenated: a rope of thousands of tiny strings is slow to flatten.
  const values = new Array<string>(rowCount);
  for (const column of plan.columns) {
    const at = column.storedIndex;
    const encode = column.encodeStored;
    let nulls = false;
    for (let i = 0, cell = column.slot; i < rowCount; i++, cell += slots.length) {
      const value = found[cell];
      if (value === null || value === undefined) values[i] = 'null';
      else {
        // '' is null: a null value, or a feature the winning row does not have.
        const stored = value.stored[at] ?? '';
        nulls ||= stored === '';
        values[i] = stored === '' ? 'null' : encode(stored);
      }
    }
    out.text(`${first ? '' : ','}{"values":[${values.join(',')}]`);
    if (nulls) out.text(columnStatuses(slotStatusRows[column.slot]!, values, slotCounts));
    else out.bytes(slotStatuses[column.slot]!);
    out.bytes(slotTimes[column.slot]!);
    first = false;
  }
  out.text(']}');
  return { body: out.finish(), registryVersion: plan.registryVersion, statuses: slotCounts };
}

/**
 * A response body written straight into one buffer: no JSON string of the whole response (a 250 kB
 * string to flatten, then to encode again when written to the socket).
 */
class ResponseWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  text(text: string): void {
    const most = text.length * 3;
    if (this.length + most > this.buffer.length) this.grow(most);
    this.length += this.buffer.write(text, this.length);
  }

  bytes(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buffer.length) this.grow(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** The bytes written; every byte of it was written (allocUnsafe's old memory never leaves). */
  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + needed));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
}

/** The statuses of a column with null values: its view's, with NULL_VALUE where a PRESENT row's value is null. */
function columnStatuses(rowStatuses: readonly string[], values: readonly string[], counts: StatusCounts): string {
  const statuses = rowStatuses.slice();
  for (let i = 0; i < statuses.length; i++) {
    if (values[i] === 'null' && statuses[i] === STATUS_JSON.PRESENT) {
      statuses[i] = STATUS_JSON.NULL_VALUE;
      counts.PRESENT--;
      counts.NULL_VALUE++;
    }
  }
  return `,"statuses":[${statuses.join(',')}],"event_timestamps":`;
}

const STATUS_JSON: Record<OnlineStatus, string> = {
  PRESENT: '"PRESENT"',
  NULL_VALUE: '"NULL_VALUE"',
  OUTSIDE_MAX_AGE: '"OUTSIDE_MAX_AGE"',
  NOT_FOUND: '"NOT_FOUND"',
};

function repeatJson(item: string, count: number): string {
  return count === 0 ? '[]' : `[${`${item},`.repeat(count - 1)}${item}]`;
}
