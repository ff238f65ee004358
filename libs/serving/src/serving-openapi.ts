/**
 * OpenAPI descriptions of the serving routes. Request bodies are described here but validated by
 * parseOnlineFeaturesRequest (not by Fastify's Ajv, whose type coercion would hide mistyped values).
 */
const valuesColumn = {
  type: 'object',
  properties: {
    values: {
      type: 'array',
      items: {},
      description:
        'One value per entity row, in its unit: int and float64 as JSON numbers; float32 as the shortest decimal ' +
        'that reads back as the same float32 (4.9, not 4.900000095367432); timestamp features as RFC 3339 UTC ' +
        'text written exactly like event_timestamps (`2024-05-01T12:00:00.000Z`, `.000001Z` when the value has ' +
        'microseconds); bytes as base64; lists as arrays; NaN and ±Infinity as the strings "NaN", "Infinity", ' +
        '"-Infinity"; null when absent. Join key columns echo the request.',
    },
    statuses: {
      type: 'array',
      items: { type: 'string', enum: ['PRESENT', 'NULL_VALUE', 'OUTSIDE_MAX_AGE', 'NOT_FOUND'] },
      description:
        "Feast's field statuses, first match wins: NOT_FOUND (no row for the entity in the view; value null), " +
        "OUTSIDE_MAX_AGE (the row is older than the view's TTL; its value is still served), NULL_VALUE (the row " +
        'is within the TTL but this value is null), PRESENT.',
    },
    event_timestamps: {
      type: 'array',
      items: { type: 'string', format: 'date-time' },
      description: "The row's event time, RFC 3339 UTC; 1970-01-01T00:00:00Z for NOT_FOUND and join keys.",
    },
  },
};

const errorBody = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', description: 'Stable error code, e.g. UNKNOWN_FEATURE_VIEW, MISSING_JOIN_KEY.' },
    message: { type: 'string' },
    retriable: { type: 'boolean' },
  },
};

export const GET_ONLINE_FEATURES_BODY = {
  type: 'object',
  required: ['entities'],
  properties: {
    features: {
      type: 'array',
      items: { type: 'string' },
      description: '`view:feature` or `view:*`.',
      example: ['driver_stats:conv_rate'],
    },
    feature_service: { type: 'string', description: 'Instead of features.' },
    entities: {
      type: 'object',
      additionalProperties: { type: 'array', items: {} },
      description:
        'Join key → one value per entity row; all lists equally long. An int32/int64 key may be a number or a ' +
        'string of decimal digits with an optional "-" (Feast\'s JSON writes int64 as strings): "1001" is taken, ' +
        '" 1", "1e3", "1.0" and values out of range are a 400 naming the key and value. An int64 key past 2^53 ' +
        'must be sent as a string (as a JSON number it may already have lost digits, and is refused). A string ' +
        'key must be a JSON string: 1001 for a string key is a 400 (send "1001"). Bytes keys are base64.',
      example: { driver_id: [1001, 1002] },
    },
    full_feature_names: { type: 'boolean', default: false, description: 'Name columns `view__feature`.' },
  },
};

export const GET_ONLINE_FEATURES_SCHEMA = {
  summary: 'Latest feature values for entity rows (Feast response shape, or Arrow IPC)',
  description:
    "JSON (Feast's shape) by default. With `Accept: application/vnd.apache.arrow.stream` the answer is one Arrow IPC " +
    'stream (Content-Type application/vnd.apache.arrow.stream) holding one record batch, a row per entity row: the ' +
    "join-key columns in the request's order (int32, int64, utf8, binary, bool as the join key's type), then for " +
    'each feature (named as in JSON: `feature`, or `view__feature` with full_feature_names) three columns: ' +
    "`<feature>` of the feature's type (bool, int32, int64, float32, float64, utf8, binary, timestamp[us, UTC], " +
    'list<element: T>; null when absent), `<feature>__status` (utf8, not null: PRESENT, NULL_VALUE, OUTSIDE_MAX_AGE, ' +
    'NOT_FOUND, as in JSON) and `<feature>__event_timestamp` (timestamp[us, UTC] of the row the value comes from; ' +
    'null when NOT_FOUND). The schema metadata holds `featurelog.registry_version`. Errors stay JSON.',
  tags: ['serving'],
  security: [{ apiKey: [] }, { bearer: [] }],
  produces: ['application/json', 'application/vnd.apache.arrow.stream'],
  response: {
    200: {
      description:
        'Columns: join keys first, then features (JSON; or an Arrow IPC stream when Accept asks for ' +
        'application/vnd.apache.arrow.stream, see the description)',
      type: 'object',
      properties: {
        metadata: { type: 'object', properties: { feature_names: { type: 'array', items: { type: 'string' } } } },
        results: { type: 'array', items: valuesColumn },
      },
    },
    400: { description: 'Bad request: the message names the field or value', ...errorBody },
    401: { description: 'No valid API key', ...errorBody },
    403: { description: 'The key lacks the read scope', ...errorBody },
    404: { description: 'Unknown feature view, feature or service', ...errorBody },
    413: { description: 'More entity rows than maxEntityRows', ...errorBody },
    503: { description: 'Online store or registry unavailable', ...errorBody },
  },
};

export const SUBSCRIBE_SCHEMA = {
  summary:
    'Server-Sent Events: a snapshot, then every update of the entities (resync on falling behind or a registry change); resumable with Last-Event-ID',
  description:
    'Events: `snapshot` {registry_version, feature_names, rows}, `update` (one row), `resync` {reason} followed by a ' +
    'fresh snapshot (reason `registry changed` when a definition it reads changed: the snapshot has the new ' +
    '`feature_names`), `error` {code, message, retriable} after which the stream ends (retriable false: a view, ' +
    'feature or service it reads was deleted; do not reconnect). A row is {view, entity_key, entity, status, ' +
    "event_timestamp, version, values}, values in the units of /get-online-features; status is the row's " +
    '(PRESENT, OUTSIDE_MAX_AGE, NOT_FOUND). A delete (change data capture) is an `update` with status NOT_FOUND, ' +
    "null event_timestamp and values, `deleted: true` and the delete's version (a version may carry " +
    '`source_position`, digits that rank between created_timestamp and the log position). Keep the newest ' +
    'version per (view, entity_key).\n\n' +
    'Resuming: each event has an `id:`, where the stream stands in the log (per topic it reads, ' +
    '`topic:partition=nextOffset,…`, topics joined by `;`), or an empty `id:` while it is not exact yet (a ' +
    'snapshot the updates after it complete). Reconnect with the last id as the `Last-Event-ID` header ' +
    '(EventSource does): no snapshot, but every change missed meanwhile, in log order, each once, then the ' +
    'live ones (a row appended out of event-time order may come although a newer version is held: keep the ' +
    "newest per (view, entity_key)). When that position cannot be served (malformed, another subscription's topics, past the " +
    "log's end, or more than the server re-reads), the stream starts with `reset` {reason} (the id cleared) " +
    'and a fresh snapshot.',
  tags: ['serving'],
  security: [{ apiKey: [] }, { bearer: [] }] as Array<Record<string, string[]>>,
  response: {
    200: { description: 'text/event-stream', type: 'string' },
    400: { description: 'Bad request', ...errorBody },
    401: { description: 'No valid API key', ...errorBody },
    403: { description: 'The key lacks the read scope', ...errorBody },
    503: { description: 'Log, online store or registry unavailable, or the materializer too far behind', ...errorBody },
  },
};

const SUBSCRIBE_HEADERS = {
  type: 'object',
  properties: {
    'last-event-id': {
      type: 'string',
      description: 'The id of the last event received: resume there instead of starting with a snapshot.',
    },
  },
};

const SUBSCRIBE_QUERY = {
  type: 'object',
  properties: {
    feature_service: { type: 'string' },
    features: { type: 'string', description: 'Comma-separated `view:feature` (or repeat the parameter).' },
    entities: { type: 'string', description: 'JSON: join key → list of values, e.g. {"driver_id":[1001]}' },
    full_feature_names: { type: 'string', enum: ['true', 'false'] },
  },
  required: ['entities'],
};

/** Added to the documented routes only (see the note at the top). */
export const DOCUMENTED_INPUTS: Record<string, Record<string, unknown>> = {
  '/get-online-features': { body: GET_ONLINE_FEATURES_BODY },
  '/subscribe': { querystring: SUBSCRIBE_QUERY, headers: SUBSCRIBE_HEADERS },
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'featurelog serving',
    description: 'Online feature retrieval and live subscriptions.',
    version: '0.1.0',
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      bearer: { type: 'http', scheme: 'bearer' },
    },
  },
};
