import { FeaturelogError } from '@featurelog/domain';
import type { AppendRecord, EventLog, LogRecord, TopicSpec } from '@featurelog/log';

/** Mount point of the bridge on the dev server. */
export const EVENT_LOG_BRIDGE_PREFIX = '/log';
/** Most records one read request returns. */
export const BRIDGE_MAX_READ_BATCH = 10_000;

/** Bytes travel as base64 in JSON. */
export interface WireRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  timestamp: number;
}

export interface WireAppendRecord {
  key: string | null;
  value: string | null;
  headers?: Record<string, string>;
  partition?: number;
}

export interface WireError {
  code: string;
  message: string;
  retriable: boolean;
}

const base64 = (bytes: Buffer | null) => (bytes === null ? null : bytes.toString('base64'));
const bytes = (text: string | null) => (text === null ? null : Buffer.from(text, 'base64'));

export function toWireRecord(record: LogRecord): WireRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.headers)) headers[name] = value.toString('base64');
  return {
    partition: record.partition,
    offset: record.offset,
    key: base64(record.key),
    value: base64(record.value),
    headers,
    timestamp: record.timestamp,
  };
}

export function fromWireRecord(topic: string, record: WireRecord): LogRecord {
  const headers: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(record.headers)) headers[name] = Buffer.from(value, 'base64');
  return { ...record, topic, key: bytes(record.key), value: bytes(record.value), headers };
}

export function toWireAppend(record: AppendRecord): WireAppendRecord {
  const wire: WireAppendRecord = { key: base64(record.key), value: base64(record.value) };
  if (record.partition !== undefined) wire.partition = record.partition;
  if (record.headers !== undefined) {
    wire.headers = {};
    for (const [name, value] of Object.entries(record.headers)) {
      wire.headers[name] = (typeof value === 'string' ? Buffer.from(value) : value).toString('base64');
    }
  }
  return wire;
}

function fromWireAppend(record: WireAppendRecord): AppendRecord {
  const out: AppendRecord = { key: bytes(record.key), value: bytes(record.value) };
  if (record.partition !== undefined) out.partition = record.partition;
  if (record.headers !== undefined) {
    out.headers = {};
    for (const [name, value] of Object.entries(record.headers)) out.headers[name] = Buffer.from(value, 'base64');
  }
  return out;
}

function integer(name: string, text: string | undefined, fallback?: number): number {
  if (text === undefined && fallback !== undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new FeaturelogError('LOG_BRIDGE_REQUEST_INVALID', `${name} must be a non-negative integer, got ${text}`);
  }
  return value;
}

/** The slice of a Fastify instance (or reply) the bridge uses: apps may carry their own fastify copy. */
interface BridgeReply {
  status(code: number): { send(body: unknown): unknown };
}
type BridgeHandler = (
  request: { params: unknown; query: unknown; body: unknown },
  reply: BridgeReply,
) => Promise<unknown>;
export interface BridgeHost {
  get(path: string, handler: BridgeHandler): unknown;
  post(path: string, handler: BridgeHandler): unknown;
}

function sendError(reply: BridgeReply, error: unknown): unknown {
  const known = error instanceof FeaturelogError;
  const body: WireError = known
    ? { code: error.code, message: error.message, retriable: error.retriable }
    : { code: 'LOG_BRIDGE_FAILED', message: error instanceof Error ? error.message : String(error), retriable: true };
  return reply.status(known && !error.retriable ? 400 : 503).send(body);
}

/**
 * The embedded log of a `featurelog dev` process, opened to the other processes of its repo over
 * HTTP: everything but consumer groups (CLI commands read, append and provision; only the apps
 * inside the dev process consume). See RemoteEventLog for the client.
 */
export function registerEventLogBridge(app: BridgeHost, log: EventLog): void {
  const at = (path: string) => `${EVENT_LOG_BRIDGE_PREFIX}${path}`;
  const route =
    <P>(handler: (params: P, query: Record<string, string>, body: unknown) => Promise<unknown>): BridgeHandler =>
    async (request, reply) => {
      try {
        return await handler(request.params as P, request.query as Record<string, string>, request.body);
      } catch (error) {
        return sendError(reply, error);
      }
    };
  app.post(
    at('/ensure-topic'),
    route(async (_p, _q, body) => log.ensureTopic(body as TopicSpec)),
  );
  app.get(
    at('/topics/:topic'),
    route<{ topic: string }>(async ({ topic }) => ({ description: (await log.describeTopic(topic)) ?? null })),
  );
  app.get(
    at('/topics/:topic/partition-count'),
    route<{ topic: string }>(async ({ topic }) => ({ partitions: await log.partitionCount(topic) })),
  );
  app.get(
    at('/topics/:topic/end-offsets'),
    route<{ topic: string }>(async ({ topic }) => ({ offsets: [...(await log.endOffsets(topic))] })),
  );
  app.post(
    at('/topics/:topic/append'),
    route<{ topic: string }>(async ({ topic }, _q, body) => ({
      positions: await log.append(topic, (body as { records: WireAppendRecord[] }).records.map(fromWireAppend)),
    })),
  );
  app.get(
    at('/topics/:topic/partitions/:partition/records'),
    route<{ topic: string; partition: string }>(async ({ topic, partition }, query) => {
      const max = Math.min(integer('max', query.max, 1_000), BRIDGE_MAX_READ_BATCH);
      const untilOffset = integer('until', query.until);
      const from = integer('from', query.from);
      for await (const records of log.read(topic, integer('partition', partition), from, {
        untilOffset,
        maxBatch: max,
      })) {
        return { records: records.map(toWireRecord) };
      }
      return { records: [] };
    }),
  );
}
