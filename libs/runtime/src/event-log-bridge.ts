import { routeAccess } from '@featurelog/auth';
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
type BridgeRouteOptions = { config: Record<string, unknown> };
export interface BridgeHost {
  get(path: string, options: BridgeRouteOptions, handler: BridgeHandler): unknown;
  post(path: string, options: BridgeRouteOptions, handler: BridgeHandler): unknown;
}

/** Base64 as Buffer writes it (Buffer.from(text, 'base64') would take anything, dropping what it cannot read). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function invalidAppend(message: string): FeaturelogError {
  return new FeaturelogError('LOG_BRIDGE_REQUEST_INVALID', `append: ${message}`);
}

/** An ensure-topic body, checked like an append body: a malformed one is a 400 naming the field. */
export function parseTopicSpec(body: unknown): TopicSpec {
  const invalid = (message: string) => new FeaturelogError('LOG_BRIDGE_REQUEST_INVALID', `ensure-topic: ${message}`);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('the body must be { "name": string, "partitions": n, "config": { name: string } }');
  }
  const { name, partitions, config } = body as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') throw invalid('name must be a non-empty string');
  if (typeof partitions !== 'number' || !Number.isSafeInteger(partitions) || partitions < 1) {
    throw invalid('partitions must be a positive integer');
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw invalid('config must be an object of string values');
  }
  for (const [key, value] of Object.entries(config)) {
    if (typeof value !== 'string') throw invalid(`config.${key} must be a string`);
  }
  return { name, partitions, config: config as Record<string, string> };
}

/**
 * The records of an append body, each checked, so that a malformed body is a 400 naming what is
 * wrong (and not retried), never an error from deep inside the log.
 */
export function parseAppendBody(body: unknown): AppendRecord[] {
  const records = (body as { records?: unknown } | null)?.records;
  if (body === null || typeof body !== 'object' || !Array.isArray(records)) {
    throw invalidAppend(
      'the body must be { "records": [{ "key": base64|null, "value": base64|null, "headers"?: { name: base64 }, "partition"?: n }] }',
    );
  }
  const bytesAt = (where: string, field: unknown): Buffer | null => {
    if (field === null) return null;
    if (typeof field !== 'string' || !BASE64.test(field)) throw invalidAppend(`${where} must be base64 text or null`);
    return Buffer.from(field, 'base64');
  };
  return records.map((record: unknown, i) => {
    const at = `records[${i}]`;
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw invalidAppend(`${at} must be an object with key and value`);
    }
    const { key, value, headers, partition } = record as Record<string, unknown>;
    if (key === undefined || value === undefined) throw invalidAppend(`${at} needs both key and value (null for none)`);
    const out: AppendRecord = { key: bytesAt(`${at}.key`, key), value: bytesAt(`${at}.value`, value) };
    if (partition !== undefined) {
      if (typeof partition !== 'number' || !Number.isSafeInteger(partition) || partition < 0) {
        throw invalidAppend(`${at}.partition must be a non-negative integer`);
      }
      out.partition = partition;
    }
    if (headers !== undefined) {
      if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
        throw invalidAppend(`${at}.headers must be an object of base64 values`);
      }
      out.headers = {};
      for (const [name, header] of Object.entries(headers)) {
        if (typeof header !== 'string') throw invalidAppend(`${at}.headers.${name} must be base64 text`);
        out.headers[name] = bytesAt(`${at}.headers.${name}`, header)!;
      }
    }
    return out;
  });
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
 * inside the dev process consume). See RemoteEventLog for the client. Every route needs the `admin`
 * scope (when the host is guarded, see guardRoutes of @featurelog/auth): it reads and appends any
 * topic, the registry's included, beneath every check the apps make.
 */
export function registerEventLogBridge(app: BridgeHost, log: EventLog): void {
  const at = (path: string) => `${EVENT_LOG_BRIDGE_PREFIX}${path}`;
  const admin = { config: routeAccess('admin') };
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
    admin,
    route(async (_p, _q, body) => log.ensureTopic(parseTopicSpec(body))),
  );
  app.get(
    at('/topics/:topic'),
    admin,
    route<{ topic: string }>(async ({ topic }) => ({ description: (await log.describeTopic(topic)) ?? null })),
  );
  app.get(
    at('/topics/:topic/partition-count'),
    admin,
    route<{ topic: string }>(async ({ topic }) => ({ partitions: await log.partitionCount(topic) })),
  );
  app.get(
    at('/topics/:topic/end-offsets'),
    admin,
    route<{ topic: string }>(async ({ topic }) => ({ offsets: [...(await log.endOffsets(topic))] })),
  );
  app.post(
    at('/topics/:topic/append'),
    admin,
    route<{ topic: string }>(async ({ topic }, _q, body) => ({
      positions: await log.append(topic, parseAppendBody(body)),
    })),
  );
  app.get(
    at('/topics/:topic/partitions/:partition/records'),
    admin,
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
