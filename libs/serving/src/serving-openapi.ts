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
      description: 'One value per entity row (bytes as base64, timestamps as epoch microseconds).',
    },
    statuses: { type: 'array', items: { type: 'string', enum: ['PRESENT', 'NOT_FOUND', 'OUTSIDE_MAX_AGE'] } },
    event_timestamps: { type: 'array', items: { type: 'string', format: 'date-time' } },
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
      description: 'Join key → one value per entity row; all lists equally long.',
      example: { driver_id: [1001, 1002] },
    },
    full_feature_names: { type: 'boolean', default: false, description: 'Name columns `view__feature`.' },
  },
};

export const GET_ONLINE_FEATURES_SCHEMA = {
  summary: 'Latest feature values for entity rows (Feast response shape)',
  tags: ['serving'],
  security: [{ apiKey: [] }, { bearer: [] }],
  response: {
    200: {
      description: 'Columns: join keys first, then features',
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
    'Server-Sent Events: a snapshot, then every update of the entities (resync on falling behind or a registry change)',
  description:
    'Events: `snapshot` {registry_version, feature_names, rows}, `update` (one row), `resync` {reason} followed by a ' +
    'fresh snapshot (reason `registry changed` when a definition it reads changed: the snapshot has the new ' +
    '`feature_names`), `error` {code, message, retriable} after which the stream ends (retriable false: a view, ' +
    'feature or service it reads was deleted; do not reconnect). A row is {view, entity_key, entity, status, ' +
    'event_timestamp, version, values}. Keep the newest version per (view, entity_key).',
  tags: ['serving'],
  security: [{ apiKey: [] }, { bearer: [] }],
  response: {
    200: { description: 'text/event-stream', type: 'string' },
    400: { description: 'Bad request', ...errorBody },
    401: { description: 'No valid API key', ...errorBody },
    403: { description: 'The key lacks the read scope', ...errorBody },
    503: { description: 'Log, online store or registry unavailable, or the materializer too far behind', ...errorBody },
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
  '/subscribe': { querystring: SUBSCRIBE_QUERY },
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
