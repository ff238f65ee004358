import { ARROW_FILE_MEDIA_TYPE, ARROW_STREAM_MEDIA_TYPE, PARQUET_MEDIA_TYPE } from './training-set-requests';

/**
 * OpenAPI descriptions of the jobs app's routes, served at its /docs. They only document: requests are
 * checked by the handlers (parseTrainingSetQuery, parseTrainingSetJson, parseExportRequest), whose
 * errors name the field, not by Fastify's schema validation.
 */
const errorBody = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: {
      type: 'string',
      description: 'Stable error code, e.g. INVALID_TRAINING_SET_REQUEST, ENTITY_TIMESTAMP_MISSING.',
    },
    message: { type: 'string' },
    retriable: { type: 'boolean' },
  },
};

const errors = (described: Record<number, string>) =>
  Object.fromEntries(Object.entries(described).map(([status, description]) => [status, { description, ...errorBody }]));

const AUTH_ERRORS = { 401: 'No valid API key', 403: 'The key lacks the jobs scope' };

const jobState = {
  type: 'object',
  description: "The job as `<project>.jobs` holds it (GET /jobs/:id's answer).",
  properties: {
    jobId: { type: 'string' },
    status: { type: 'string', enum: ['requested', 'running', 'cancelling', 'finished', 'failed', 'cancelled'] },
    requestedAt: { type: 'integer', description: 'Epoch microseconds' },
    requestedBy: { type: 'string' },
    progress: {
      type: 'object',
      properties: {
        phase: { type: 'string' },
        done: { type: 'number' },
        total: { type: 'number' },
        at: { type: 'integer' },
      },
    },
    worker: { type: 'string' },
    result: {
      type: 'object',
      description: 'Once finished: output, rows, columns, watermarks and timings of the export.',
      additionalProperties: true,
    },
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' }, retriable: { type: 'boolean' } },
    },
    cancel: { type: 'object', additionalProperties: true },
    endedAt: { type: 'integer' },
  },
  additionalProperties: true,
};

const TRAINING_SET_QUERY = {
  type: 'object',
  properties: {
    features: {
      type: 'array',
      items: { type: 'string' },
      description:
        '`view:feature` or `view:*`; repeat the parameter or separate with commas. Exactly one of features and service.',
    },
    service: { type: 'string', description: 'A feature service, instead of features.' },
    fullFeatureNames: { type: 'string', enum: ['true', 'false'], description: 'Name feature columns `view__feature`.' },
    asServed: {
      type: 'string',
      enum: ['true', 'false'],
      description: 'Only rows the log had appended (and that were created) by each entity row’s time.',
    },
  },
};

const ENTITY_ROWS =
  'The entity rows: a join-key column per entity of the requested views, `event_timestamp` (any Arrow ' +
  'timestamp unit, or date; without a zone it is UTC), and any extra columns, all kept in the result as they ' +
  'are. Streamed to a file on the jobs server (limit: the app’s trainingSets.uploadLimit, 4 GiB by default; 413 ' +
  'beyond), then checked like the export’s plan checks it before any job exists.';

const SUBMIT_TRAINING_SET = {
  summary: 'Request a point-in-time training set (an export job)',
  description:
    'The body is the entity rows as an Arrow IPC stream (`' +
    ARROW_STREAM_MEDIA_TYPE +
    '`, or the IPC file framing `' +
    ARROW_FILE_MEDIA_TYPE +
    '`) or a Parquet file (`' +
    PARQUET_MEDIA_TYPE +
    '`), with the options in the query; or, for small requests, JSON (`application/json`): ' +
    '`{ "entities": [ {row}, … ], "features": [...] | "service": "...", "fullFeatureNames": bool, "asServed": bool }` ' +
    'with `event_timestamp` as RFC 3339 text (no zone: UTC) or epoch milliseconds, and each other column typed by its ' +
    'values (integers int64, other numbers float64, booleans, text; objects as JSON text). ' +
    ENTITY_ROWS +
    ' Answers 202 with the job id: follow it at GET /training-sets/{id}, cancel it at POST /jobs/{id}/cancel, read ' +
    'it at GET /training-sets/{id}/result.',
  tags: ['training sets'],
  security: [{ apiKey: [] }, { bearer: [] }],
  querystring: TRAINING_SET_QUERY,
  response: {
    202: {
      description: 'Requested',
      type: 'object',
      properties: {
        id: { type: 'string' },
        jobId: { type: 'string', description: 'The same as id' },
        offset: { type: 'integer', description: 'Of the JobRequested event on `<project>.jobs`' },
        status: { type: 'string', enum: ['requested'] },
      },
    },
    ...errors({
      400: 'Malformed request: no body, corrupt Arrow or Parquet, no `event_timestamp` or join key column, a bad option, both or neither of features and service; the message names it',
      ...AUTH_ERRORS,
      404: 'Unknown feature view, feature or feature service',
      413: 'The body is larger than the upload limit',
      415: 'Content-Type is none of Arrow IPC, Parquet and JSON',
      503: 'The log or the registry is unavailable (retriable)',
    }),
  },
};

const TRAINING_SET_STATE = {
  summary: 'A training set’s job: status, progress, error',
  tags: ['training sets'],
  security: [{ apiKey: [] }, { bearer: [] }],
  response: {
    200: { ...jobState, description: 'The job' },
    ...errors({ ...AUTH_ERRORS, 404: 'No training set with this id' }),
  },
};

const TRAINING_SET_RESULT = {
  summary: 'A finished training set, streamed as Arrow IPC or Parquet',
  description:
    'By `Accept` (or `?format=arrow|parquet`): `' +
    ARROW_STREAM_MEDIA_TYPE +
    '` (the default, also for `*/*`) streams an Arrow IPC stream of record batches, one per row group of the ' +
    'export’s Parquet file, with the same columns and types as pyarrow reads that file: the entity columns in their ' +
    'order and types, then the features (timestamps timestamp[us, tz=UTC], int64, int32, float, double, bool, utf8, ' +
    'binary, list<element: T>; every column nullable). `' +
    PARQUET_MEDIA_TYPE +
    '` sends the Parquet file itself. `X-Featurelog-Rows` says how many rows the answer holds: a stream that ends ' +
    'with fewer, or a connection cut before the end-of-stream marker, is a failed transfer.',
  tags: ['training sets'],
  security: [{ apiKey: [] }, { bearer: [] }],
  querystring: { type: 'object', properties: { format: { type: 'string', enum: ['arrow', 'parquet'] } } },
  response: {
    200: { description: `${ARROW_STREAM_MEDIA_TYPE} or ${PARQUET_MEDIA_TYPE}`, type: 'string', format: 'binary' },
    ...errors({
      ...AUTH_ERRORS,
      404: 'No training set with this id, or its file is not on this server',
      406: 'Accept names neither Arrow IPC nor Parquet',
      409: 'JOB_NOT_FINISHED (requested or running: retry later) or JOB_CANCELLED',
      400: 'The job failed: its own error code and message (4xx for bad input, 503 when retriable)',
    }),
  },
};

/** Per route (`METHOD url`, as Fastify names it): what /docs shows for it. */
export const JOBS_DOCUMENTED_ROUTES: Record<string, Record<string, unknown>> = {
  'POST /training-sets': SUBMIT_TRAINING_SET,
  'GET /training-sets/:id': TRAINING_SET_STATE,
  'GET /training-sets/:id/result': TRAINING_SET_RESULT,
  'GET /jobs': {
    summary: 'Every job of `<project>.jobs`',
    tags: ['jobs'],
    security: [{ apiKey: [] }, { bearer: [] }],
    response: { 200: { description: 'The jobs, oldest request first', type: 'array', items: jobState } },
  },
  'POST /jobs/exports': {
    summary: 'Request an export of files on the jobs server (what `featurelog export` submits)',
    tags: ['jobs'],
    security: [{ apiKey: [] }, { bearer: [] }],
    response: { ...errors({ 400: 'Malformed request; the message names the field', ...AUTH_ERRORS }) },
  },
  'GET /jobs/:id': {
    summary: 'One job',
    tags: ['jobs'],
    security: [{ apiKey: [] }, { bearer: [] }],
    response: { 200: { ...jobState, description: 'The job' }, ...errors({ ...AUTH_ERRORS, 404: 'No such job' }) },
  },
  'POST /jobs/:id/cancel': {
    summary: 'Cancel a job: `cancelled` if nobody started it, else `cancelling` until its worker stops it',
    tags: ['jobs'],
    security: [{ apiKey: [] }, { bearer: [] }],
    response: {
      202: { ...jobState, description: 'The job after the request' },
      ...errors({ ...AUTH_ERRORS, 404: 'No such job', 409: 'The job has already ended' }),
    },
  },
};

export const JOBS_OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'featurelog jobs',
    description: 'Point-in-time training sets (Arrow IPC, Parquet, JSON), export and backfill jobs, dead letters.',
    version: '0.1.0',
  },
  components: {
    securitySchemes: {
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      bearer: { type: 'http', scheme: 'bearer' },
    },
  },
};
