import {
  FeaturelogError,
  getDataSource,
  getEntity,
  listDefinitions,
  parseTimestampText,
  topicNames,
  type EntityDefinition,
  type FeatureViewDefinition,
  type RegistryState,
} from '@featurelog/domain';
import {
  decodeEnvelope,
  readerSchema,
  RowDecoder,
  type KafkaDataSource,
  type SchemaRegistryPort,
} from '@featurelog/avro';
import { DLQ_HEADERS, type EventLog, type LogRecord } from '@featurelog/log';
import { resolvedView, ViewRowDecoder, viewTopic } from '@featurelog/view-rows';

/**
 * `<project>.dlq` holds the records consumers refused for good: the original key, bytes and headers,
 * plus DLQ_HEADERS (error code and reason, source topic, partition, offset). Beside them, on
 * partition 0, it holds the redrive markers of this module (REDRIVE_MARKER_HEADER): a claim of the
 * entries one redrive re-appends, then what became of them. So the DLQ topic alone says which entries
 * were redriven, when, by whom and to where — the log stays the only source of truth.
 */

/** Headers a redrive adds to the record it re-appends to the source topic. */
export const REDRIVE_HEADERS = {
  /** The DLQ entry re-appended: `<dlq topic>/<partition>/<offset>`. */
  from: 'featurelog.redrive.from',
  /** When, ISO-8601 UTC. */
  at: 'featurelog.redrive.at',
  /** How many times this record has been redriven, this time included. */
  count: 'featurelog.redrive.count',
  redriveId: 'featurelog.redrive.id',
} as const;

/** Marks the DLQ's own bookkeeping records (value: a RedriveMarker as JSON). */
export const REDRIVE_MARKER_HEADER = 'featurelog.dlq.marker';

export interface Position {
  topic: string;
  partition: number;
  offset: number;
}

export type RedriveMarker =
  | { type: 'RedriveClaimed'; redriveId: string; at: number; by?: string; entries: Position[] }
  | {
      type: 'RedriveCompleted';
      redriveId: string;
      at: number;
      /** Each claimed entry and where its record was re-appended. */
      entries: Array<{ entry: Position; to: Position }>;
    };

export type DeadLetterStatus = 'dead' | 'redriving' | 'redriven';

export interface DeadLetter {
  /** `<dlq topic>/<partition>/<offset>`: names the entry in `dlq show` and `dlq redrive`. */
  id: string;
  position: Position;
  /** When the consumer dead-lettered it (the DLQ record's append time), epoch ms. */
  deadLetteredAt: number;
  error: { code: string; reason: string };
  /** Where the refused record sits in its own topic. */
  source: Position;
  /** The feature view that reads the source topic now, if any. */
  view?: string;
  /** The record's key as text (entity keys are text), or base64 when it is not UTF-8. */
  key: string | null;
  valueBytes: number | null;
  /** Every header, decoded as text (base64 when not UTF-8): the original ones and the DLQ's. */
  headers: Record<string, string>;
  /** Times the record had been redriven before it landed here (its featurelog.redrive.count). */
  redrivenBefore: number;
  status: DeadLetterStatus;
  /** The redrive that claimed this entry, and where the record went once it completed. */
  redrive?: { redriveId: string; at: number; by?: string; to?: Position };
}

/** A DLQ entry with its body and whether a redrive would re-append it now. */
export interface DeadLetterDetail extends DeadLetter {
  body:
    | { schemaId: number; writerSchema: string; row: Record<string, unknown> }
    /** `text`: the body as UTF-8 text when it is some (JSON written by Kafka Connect or an app). */
    | { schemaId?: number; undecodable: string; text?: string }
    | null;
  /** The check a redrive runs now: would the consumers take the record? */
  redriveCheck: { ok: true } | { ok: false; code: string; message: string };
}

export interface DeadLetterFilter {
  view?: string;
  /** An error code (exact, any case), or words found in the error reason. */
  reason?: string;
  /** Dead-lettered at or after, epoch ms. */
  since?: number;
  /** Dead-lettered at or before, epoch ms. */
  until?: number;
  status?: DeadLetterStatus;
}

export function positionText({ topic, partition, offset }: Position): string {
  return `${topic}/${partition}/${offset}`;
}

/** `topic/partition/offset` (the topic may hold slashes? Kafka's may not) into a Position; throws DLQ_POSITION_INVALID. */
export function parsePosition(text: string): Position {
  const match = /^([A-Za-z0-9._-]+)\/(\d+)\/(\d+)$/.exec(text);
  if (match === null) {
    throw new FeaturelogError(
      'DLQ_POSITION_INVALID',
      `"${text}" is not a position: expected <topic>/<partition>/<offset>, e.g. drivers.dlq/0/42`,
    );
  }
  return { topic: match[1]!, partition: Number(match[2]), offset: Number(match[3]) };
}

/** Whether an entry passes every given filter. */
export function matchesDeadLetterFilter(entry: DeadLetter, filter: DeadLetterFilter): boolean {
  if (filter.view !== undefined && entry.view !== filter.view) return false;
  if (filter.reason !== undefined) {
    const wanted = filter.reason.toLowerCase();
    const codeMatches = entry.error.code.toLowerCase() === wanted;
    if (!codeMatches && !entry.error.reason.toLowerCase().includes(wanted)) return false;
  }
  if (filter.since !== undefined && entry.deadLetteredAt < filter.since) return false;
  if (filter.until !== undefined && entry.deadLetteredAt > filter.until) return false;
  if (filter.status !== undefined && entry.status !== filter.status) return false;
  return true;
}

/** A view that reads a topic, with what decoding its records needs. */
export interface TopicReader {
  view: FeatureViewDefinition;
  entities: EntityDefinition[];
  source: KafkaDataSource | undefined;
}

/** Topic → the view reading it now (its managed topic, or the existing topic of its kafka data source). */
export function topicReaders(state: RegistryState, project: string): Map<string, TopicReader> {
  const readers = new Map<string, TopicReader>();
  for (const { definition } of listDefinitions(state, 'feature_view')) {
    const view = definition as FeatureViewDefinition;
    const entities = view.entities.flatMap((name) => getEntity(state, name) ?? []);
    const found = view.source === undefined ? undefined : getDataSource(state, view.source);
    const source = found?.kind === 'kafka' ? found : undefined;
    readers.set(viewTopic(project, view, source), { view, entities, source });
  }
  return readers;
}

/** The raw DLQ: its entries and its redrive markers, in partition and offset order. */
export interface DeadLetterLog {
  entries: LogRecord[];
  markers: Array<{ offset: number; marker: RedriveMarker }>;
}

/** Reads every partition of `<project>.dlq` to its end (or to `until`, per partition). */
export async function readDeadLetterLog(
  log: EventLog,
  project: string,
  { until }: { until?: Map<number, number> } = {},
): Promise<DeadLetterLog> {
  const topic = topicNames.dlq(project);
  const out: DeadLetterLog = { entries: [], markers: [] };
  if ((await log.describeTopic(topic)) === undefined) return out;
  const ends = until ?? (await log.endOffsets(topic));
  for (const [partition, end] of [...ends].sort(([a], [b]) => a - b)) {
    if (end === 0) continue;
    for await (const records of log.read(topic, partition, 0, { untilOffset: end })) {
      for (const record of records) {
        if (record.headers[REDRIVE_MARKER_HEADER] !== undefined) {
          const marker = decodeMarker(record);
          if (marker !== undefined && partition === 0) out.markers.push({ offset: record.offset, marker });
          continue;
        }
        out.entries.push(record);
      }
    }
  }
  return out;
}

function decodeMarker(record: LogRecord): RedriveMarker | undefined {
  try {
    const marker = JSON.parse(record.value?.toString('utf8') ?? '') as RedriveMarker;
    return marker.type === 'RedriveClaimed' || marker.type === 'RedriveCompleted' ? marker : undefined;
  } catch {
    return undefined; // Not ours to read: it claims nothing.
  }
}

/**
 * The entries of the DLQ with their status, from its records and markers: an entry claimed by a
 * redrive is `redriving` until that redrive's completion marker, then `redriven`. Only the first
 * claim of an entry counts (see redriveDeadLetters).
 */
export function foldDeadLetters(raw: DeadLetterLog, readers: ReadonlyMap<string, TopicReader>): DeadLetter[] {
  const claims = firstClaims(raw.markers);
  const completed = new Map<string, Map<string, Position>>();
  for (const { marker } of raw.markers) {
    if (marker.type !== 'RedriveCompleted') continue;
    completed.set(marker.redriveId, new Map(marker.entries.map(({ entry, to }) => [positionText(entry), to])));
  }
  return raw.entries.map((record) => {
    const entry = deadLetterOf(record, readers);
    const claim = claims.get(entry.id);
    if (claim !== undefined) {
      const to = completed.get(claim.redriveId)?.get(entry.id);
      entry.status = to === undefined ? 'redriving' : 'redriven';
      entry.redrive = {
        redriveId: claim.redriveId,
        at: claim.at,
        ...(claim.by === undefined ? {} : { by: claim.by }),
        ...(to === undefined ? {} : { to }),
      };
    }
    return entry;
  });
}

/** Entry id → the first claim of it, by marker offset. */
export function firstClaims(
  markers: DeadLetterLog['markers'],
  { before }: { before?: number } = {},
): Map<string, { redriveId: string; at: number; by?: string; offset: number }> {
  const claims = new Map<string, { redriveId: string; at: number; by?: string; offset: number }>();
  for (const { offset, marker } of markers) {
    if (marker.type !== 'RedriveClaimed' || (before !== undefined && offset >= before)) continue;
    for (const position of marker.entries) {
      const id = positionText(position);
      if (!claims.has(id)) {
        claims.set(id, {
          redriveId: marker.redriveId,
          at: marker.at,
          ...(marker.by === undefined ? {} : { by: marker.by }),
          offset,
        });
      }
    }
  }
  return claims;
}

function deadLetterOf(record: LogRecord, readers: ReadonlyMap<string, TopicReader>): DeadLetter {
  const header = (name: string) => record.headers[name]?.toString('utf8');
  const source: Position = {
    topic: header(DLQ_HEADERS.sourceTopic) ?? '',
    partition: Number(header(DLQ_HEADERS.sourcePartition) ?? -1),
    offset: Number(header(DLQ_HEADERS.sourceOffset) ?? -1),
  };
  const position = { topic: record.topic, partition: record.partition, offset: record.offset };
  const view = readers.get(source.topic)?.view.name;
  return {
    id: positionText(position),
    position,
    deadLetteredAt: record.timestamp,
    error: { code: header(DLQ_HEADERS.errorCode) ?? 'UNKNOWN', reason: header(DLQ_HEADERS.errorReason) ?? '' },
    source,
    ...(view === undefined ? {} : { view }),
    key: record.key === null ? null : bytesText(record.key),
    valueBytes: record.value === null ? null : record.value.length,
    headers: Object.fromEntries(Object.entries(record.headers).map(([name, value]) => [name, bytesText(value)])),
    redrivenBefore: Number(header(REDRIVE_HEADERS.count) ?? 0) || 0,
    status: 'dead',
  };
}

/** UTF-8 text when the bytes are valid UTF-8 without control characters, else `base64:<…>`. */
function bytesText(bytes: Buffer): string {
  return utf8Text(bytes) ?? `base64:${bytes.toString('base64')}`;
}

/** The bytes as text when they are valid UTF-8 without control characters (what JSON records are). */
function utf8Text(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return Buffer.from(text, 'utf8').equals(bytes) && !/[\u0000-\u0008\u000e-\u001f]/.test(text) ? text : undefined;
}

/**
 * Whether the consumers would take the record now: the decode step they all share (ViewRowDecoder: the
 * writer schema by id, resolved to the view's current row schema, or the kafka source's mapping; the row
 * checked). Returns the refusal, or undefined when it passes. Throws when the schema registry cannot
 * answer (retriable), since then nothing can be said.
 */
export async function consumerRefusal(
  record: Pick<LogRecord, 'topic' | 'partition' | 'offset' | 'key' | 'value' | 'headers' | 'timestamp'>,
  reader: TopicReader | undefined,
  project: string,
  schemas: SchemaRegistryPort,
): Promise<FeaturelogError | undefined> {
  if (reader === undefined) {
    return new FeaturelogError('DLQ_NO_VIEW', `no feature view reads ${record.topic} now, so nothing would consume it`);
  }
  const rows = new ViewRowDecoder(
    resolvedView(project, reader.view, reader.entities, reader.source),
    project,
    new RowDecoder(schemas),
    schemas,
  );
  await rows.prepare([record]);
  try {
    // As the materializer takes it: a delete (change data capture) and the tombstone after it are taken too.
    rows.decodeChange(record.value);
    return undefined;
  } catch (error) {
    if (error instanceof FeaturelogError && !error.retriable) return error;
    throw error;
  }
}

/** The body as its writer wrote it, when the schema registry knows the writer schema. */
export async function decodeBody(value: Buffer | null, schemas: SchemaRegistryPort): Promise<DeadLetterDetail['body']> {
  if (value === null) return null;
  let schemaId: number;
  try {
    schemaId = decodeEnvelope(value).schemaId;
  } catch (error) {
    const text = utf8Text(value);
    return { undecodable: (error as Error).message, ...(text === undefined ? {} : { text }) };
  }
  let writer;
  try {
    writer = await schemas.getSchema(schemaId);
  } catch (error) {
    if (error instanceof FeaturelogError && error.retriable) throw error;
    return { schemaId, undecodable: (error as Error).message };
  }
  try {
    const row = await new RowDecoder(schemas).decode(value, readerSchema(writer));
    return { schemaId, writerSchema: JSON.stringify(writer), row: jsonRow(row) };
  } catch (error) {
    return { schemaId, undecodable: (error as Error).message };
  }
}

function jsonRow(row: Record<string, unknown>): Record<string, unknown> {
  const plain = (value: unknown): unknown => {
    if (value instanceof Uint8Array) return `base64:${Buffer.from(value).toString('base64')}`;
    if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    if (Array.isArray(value)) return value.map(plain);
    return value;
  };
  return Object.fromEntries(Object.entries(row).map(([name, value]) => [name, plain(value)]));
}

const STATUSES: readonly DeadLetterStatus[] = ['dead', 'redriving', 'redriven'];

/**
 * A filter from text fields (a query string, CLI options): `since`/`until` as ISO-8601 (no zone means
 * UTC) or a date; `status` one of dead, redriving, redriven. Throws DLQ_FILTER_INVALID naming the field.
 */
export function parseDeadLetterFilter(fields: Record<string, unknown>): DeadLetterFilter {
  const text = (name: string): string | undefined => {
    const value = fields[name];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new FeaturelogError('DLQ_FILTER_INVALID', `${name} must be text`);
    return value;
  };
  const time = (name: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const micros = parseTimestampText(value);
    if (micros === undefined) {
      throw new FeaturelogError(
        'DLQ_FILTER_INVALID',
        `${name} "${value}" is not a timestamp (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)`,
      );
    }
    return Math.floor(micros / 1000);
  };
  const filter: DeadLetterFilter = {};
  const view = text('view');
  const reason = text('reason');
  const since = time('since');
  const until = time('until');
  const status = text('status');
  if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) {
    throw new FeaturelogError('DLQ_FILTER_INVALID', `status must be one of ${STATUSES.join(', ')}, got ${status}`);
  }
  if (view !== undefined) filter.view = view;
  if (reason !== undefined) filter.reason = reason;
  if (since !== undefined) filter.since = since;
  if (until !== undefined) filter.until = until;
  if (status !== undefined) filter.status = status as DeadLetterStatus;
  if (since !== undefined && until !== undefined && since > until) {
    throw new FeaturelogError('DLQ_FILTER_INVALID', `since (${text('since')}) is after until (${text('until')})`);
  }
  return filter;
}
