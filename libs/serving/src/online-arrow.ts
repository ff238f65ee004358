import { Field, makeData, RecordBatch, RecordBatchStreamWriter, Schema, Struct, Table, Utf8 } from 'apache-arrow';
import { onlineStatus, type JoinKey, type OnlineStatus } from '@featurelog/domain';
import { arrowData, arrowTypeOf } from '@featurelog/offline-store';
import { decodeStoredValue, storedText, type StoredViewValue } from '@featurelog/online-store';
import type { OnlineFeaturesRequest } from './online-request';
import type { RetrievalPlan } from './serving-catalog';

/** The media type of an online answer in Arrow (asked for with `Accept`). */
export const ARROW_STREAM_MEDIA_TYPE = 'application/vnd.apache.arrow.stream';

/** Suffixes of the two columns each feature column brings in an Arrow answer. */
export const ARROW_STATUS_SUFFIX = '__status';
export const ARROW_EVENT_TIMESTAMP_SUFFIX = '__event_timestamp';

/**
 * The online answer as one Arrow IPC stream (one record batch, a row per entity row): the join-key
 * columns in the request's order, typed as the join keys are (int64 as int64, bytes as binary), then
 * per feature its value column (the feature's type, as training sets type it: timestamps
 * timestamp[us, UTC], lists list<element: T>), `<feature>__status` (utf8: PRESENT, NULL_VALUE,
 * OUTSIDE_MAX_AGE, NOT_FOUND — the JSON answer's statuses) and `<feature>__event_timestamp`
 * (timestamp[us, UTC] of the row the value comes from; null when NOT_FOUND). The schema's metadata
 * holds `featurelog.registry_version`. Statuses are counted as for the JSON answer.
 */
export function shapeOnlineArrow(
  plan: RetrievalPlan,
  request: OnlineFeaturesRequest,
  replies: ReadonlyArray<ReadonlyArray<StoredViewValue | null>>,
  nowMicros: number,
): { body: Buffer; registryVersion: number; statuses: Record<OnlineStatus, number> } {
  const rows = request.rowCount;
  const slots = plan.slots;
  const groupCount = plan.groups.length;
  const counts: Record<OnlineStatus, number> = { PRESENT: 0, NULL_VALUE: 0, OUTSIDE_MAX_AGE: 0, NOT_FOUND: 0 };
  const fields: Field[] = [];
  const children = [];
  for (const name of request.joinKeyOrder) {
    const key = plan.joinKeys.get(name)!;
    fields.push(new Field(name, arrowTypeOf(key.type), true));
    children.push(arrowData(key.type, joinKeyValues(key, request.entities[name]!, rows), rows));
  }
  // A view's statuses and times are the same for each of its columns: worked out once per view.
  const found = slots.map((slot) =>
    Array.from({ length: rows }, (_row, i) => replies[i * groupCount + slot.group]?.[slot.index] ?? null),
  );
  const slotStatuses = slots.map((slot, s) =>
    found[s]!.map((value) => onlineStatus(value?.version, slot.view.ttlSeconds, nowMicros)),
  );
  const slotTimes = found.map((values) =>
    values.map((value) => (value === null ? null : value.version.eventTimestamp)),
  );
  for (const column of plan.columns) {
    const values = found[column.slot]!.map((value) => {
      const stored = value === null ? '' : storedText(value, column.storedIndex);
      // '' is null: a null value, or a feature the winning row does not have.
      return stored === '' ? null : decodeStoredValue(stored);
    });
    const statuses: OnlineStatus[] = slotStatuses[column.slot]!.map((status, i) =>
      status === 'PRESENT' && values[i] === null ? 'NULL_VALUE' : status,
    );
    for (const status of statuses) counts[status]++;
    const type = column.feature.type;
    fields.push(new Field(column.name, arrowTypeOf(type), true));
    children.push(arrowData(type, values, rows));
    fields.push(new Field(`${column.name}${ARROW_STATUS_SUFFIX}`, new Utf8(), false));
    children.push(arrowData('string', statuses, rows));
    fields.push(new Field(`${column.name}${ARROW_EVENT_TIMESTAMP_SUFFIX}`, arrowTypeOf('timestamp'), true));
    children.push(arrowData('timestamp', slotTimes[column.slot]!, rows));
  }
  const schema = new Schema(fields, new Map([['featurelog.registry_version', String(plan.registryVersion)]]));
  const batch = new RecordBatch(
    schema,
    makeData({ type: new Struct(schema.fields), length: rows, nullCount: 0, children }),
  );
  const body = RecordBatchStreamWriter.writeAll(new Table([batch])).toUint8Array(true);
  return {
    body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    registryVersion: plan.registryVersion,
    statuses: counts,
  };
}

/** The request's join key values as the domain holds them (the JSON answer echoes them as sent). */
function joinKeyValues(key: JoinKey, values: readonly unknown[], rows: number): unknown[] {
  const out = new Array<unknown>(rows);
  for (let i = 0; i < rows; i++) {
    const value = values[i];
    if (value === null || value === undefined) out[i] = null;
    else if (key.type === 'int64' || key.type === 'int32') out[i] = typeof value === 'string' ? BigInt(value) : value;
    else if (key.type === 'bytes' && typeof value === 'string') out[i] = new Uint8Array(Buffer.from(value, 'base64'));
    else out[i] = value;
  }
  return out;
}
