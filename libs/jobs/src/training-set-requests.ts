import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { RecordBatchStreamWriter, tableToIPC, Table } from 'apache-arrow';
import { arrowRecordBatch } from '@featurelog/offline-store';
import { FeaturelogError, parseTimestampText, type DefinitionSource, type ValueType } from '@featurelog/domain';
import type { EntityFileFormat } from './entity-file';
import { planExport, type ExportRequest } from './export-plan';
import { parseExportRequest } from './export-request';
import { isJobEnded, type JobSpec, type JobState } from './job-events';
import type { SubmittedJob } from './job-client';
import { JOB_CANCELLED } from './job-cancellation';
import { parquetRecordBatches } from './training-set-arrow';

/** The media types of the training-set routes. */
export const ARROW_STREAM_MEDIA_TYPE = 'application/vnd.apache.arrow.stream';
/** Accepted for uploads too: the entity reader tells the IPC file framing from the stream's. */
export const ARROW_FILE_MEDIA_TYPE = 'application/vnd.apache.arrow.file';
export const PARQUET_MEDIA_TYPE = 'application/vnd.apache.parquet';

/** The default most bytes of an uploaded entity file (Arrow or Parquet): 4 GiB. */
export const DEFAULT_TRAINING_SET_UPLOAD_LIMIT = 4 * 1024 ** 3;

/** What a training set is asked for besides its entity rows. */
export interface TrainingSetOptions {
  features?: string[];
  service?: string;
  fullFeatureNames?: boolean;
  asServed?: boolean;
}

function invalid(message: string): FeaturelogError {
  return new FeaturelogError('INVALID_TRAINING_SET_REQUEST', message);
}

const QUERY_FIELDS = ['features', 'service', 'fullFeatureNames', 'asServed'];

/**
 * The options of `POST /training-sets` with a binary body, from its query: `features` (repeated, or
 * comma-separated) or `service`, `fullFeatureNames` and `asServed` as `true`/`false`. Throws
 * INVALID_TRAINING_SET_REQUEST (a 400) naming the parameter.
 */
export function parseTrainingSetQuery(query: Record<string, string | string[] | undefined>): TrainingSetOptions {
  const unknown = Object.keys(query).filter((name) => !QUERY_FIELDS.includes(name));
  if (unknown.length > 0) {
    throw invalid(`unknown query parameter(s) ${unknown.join(', ')} (known: ${QUERY_FIELDS.join(', ')})`);
  }
  const list = (value: string | string[] | undefined) =>
    value === undefined
      ? undefined
      : (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(',')).map((item) => item.trim());
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (Array.isArray(value)) throw invalid(`${name} is given ${value.length} times; give it once`);
    return value;
  };
  const flag = (name: string): boolean | undefined => {
    const value = single(name);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false')
      throw invalid(`${name} must be true or false, got ${JSON.stringify(value)}`);
    return value === 'true';
  };
  const features = list(query.features);
  const service = single('service');
  const fullFeatureNames = flag('fullFeatureNames');
  const asServed = flag('asServed');
  return {
    ...(features === undefined ? {} : { features }),
    ...(service === undefined ? {} : { service }),
    ...(fullFeatureNames === undefined ? {} : { fullFeatureNames }),
    ...(asServed === undefined ? {} : { asServed }),
  };
}

const JSON_FIELDS = ['entities', 'features', 'service', 'fullFeatureNames', 'asServed'];

/** The JSON body of `POST /training-sets`: its entity rows and its options (see {@link jsonEntityRowsToArrow}). */
export function parseTrainingSetJson(body: unknown): {
  entities: Record<string, unknown>[];
  options: TrainingSetOptions;
} {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('the body must be a JSON object: { entities: [ {row}, … ], features: [...] or service: "..." }');
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((name) => !JSON_FIELDS.includes(name));
  if (unknown.length > 0) throw invalid(`unknown field(s) ${unknown.join(', ')} (known: ${JSON_FIELDS.join(', ')})`);
  const { entities, features, service, fullFeatureNames, asServed } = fields;
  if (!Array.isArray(entities) || entities.length === 0) {
    throw invalid('entities must be a non-empty array of entity rows ({ "driver_id": 1001, "event_timestamp": "…" })');
  }
  entities.forEach((row, index) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw invalid(`entities[${index}] must be an object of column → value`);
    }
  });
  return {
    entities: entities as Record<string, unknown>[],
    options: {
      ...(features === undefined ? {} : { features: features as string[] }),
      ...(service === undefined ? {} : { service: service as string }),
      ...(fullFeatureNames === undefined ? {} : { fullFeatureNames: fullFeatureNames as boolean }),
      ...(asServed === undefined ? {} : { asServed: asServed as boolean }),
    },
  };
}

/**
 * Entity rows given as JSON objects, as one Arrow record batch the export reads like any Arrow entity
 * file. `event_timestamp` is RFC 3339 text (no zone: UTC) or epoch milliseconds; every other column takes
 * the type of its values: integers int64, other numbers float64, booleans bool, text string, anything
 * else its JSON text. A column missing from a row is null there. Throws INVALID_TRAINING_SET_REQUEST naming
 * the row and column of a value that does not fit.
 */
export function jsonEntityRowsToArrow(rows: readonly Record<string, unknown>[]): Uint8Array {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    for (const name of Object.keys(row)) {
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
  }
  const columns = names.map((name) => {
    const values = rows.map((row) => (row[name] === undefined ? null : row[name]));
    if (name === 'event_timestamp') {
      return {
        name,
        type: 'timestamp' as ValueType,
        values: values.map((value, index) => {
          if (value === null) return null;
          const micros =
            typeof value === 'number' && Number.isSafeInteger(value)
              ? value * 1000
              : typeof value === 'string'
                ? parseTimestampText(value)
                : undefined;
          if (micros === undefined) {
            throw invalid(
              `entities[${index}].event_timestamp: ${JSON.stringify(value)} is not a timestamp ` +
                '(RFC 3339 text such as 2025-01-31T12:00:00Z, no zone meaning UTC, or epoch milliseconds)',
            );
          }
          return micros;
        }),
      };
    }
    return { name, ...jsonColumn(name, values) };
  });
  return tableToIPC(new Table(arrowRecordBatch(columns, rows.length)), 'stream');
}

function jsonColumn(name: string, values: unknown[]): { type: ValueType; values: unknown[] } {
  const kinds = new Set(values.filter((value) => value !== null).map((value) => typeof value));
  if (kinds.size === 0) return { type: 'string', values };
  if (kinds.size === 1 && kinds.has('boolean')) return { type: 'bool', values };
  if (kinds.size === 1 && kinds.has('number')) {
    const integers = values.every((value) => value === null || Number.isSafeInteger(value));
    return { type: integers ? 'int64' : 'float64', values };
  }
  if (kinds.size === 1 && kinds.has('string')) return { type: 'string', values };
  if ([...kinds].every((kind) => kind === 'object')) {
    return { type: 'string', values: values.map((value) => (value === null ? null : JSON.stringify(value))) };
  }
  throw invalid(`entities: column "${name}" mixes values of types ${[...kinds].join(' and ')}; give it one type`);
}

/** A job's state as the training-set routes answer it. */
export type TrainingSetState = JobState;

export interface TrainingSetsOptions {
  project: string;
  /** Where uploads and results are written (created when missing). */
  directory: string;
  /** The registry as of now, to check a request before it becomes a job. */
  definitions: () => Promise<DefinitionSource>;
  jobs: {
    submit(spec: JobSpec, options: { jobId: string; requestedBy?: string }): Promise<SubmittedJob>;
    get(jobId: string): JobState | undefined;
  };
  /** Most bytes of an uploaded entity file (default {@link DEFAULT_TRAINING_SET_UPLOAD_LIMIT}). */
  uploadLimit?: number;
}

/**
 * The export's checks name the entity file by its path; for rows sent over HTTP that path is the server's
 * upload spool, which means nothing to the caller (and is not theirs to know): they are "the uploaded
 * entity rows".
 */
function asUploaded(error: unknown, path: string): unknown {
  if (!(error instanceof FeaturelogError) || !error.message.includes(path)) return error;
  const message = error.message
    .split(`entity file ${path}`)
    .join('the uploaded entity rows')
    .split(path)
    .join('the upload');
  return new FeaturelogError(error.code, message, { retriable: error.retriable, cause: error });
}

/**
 * Training sets over HTTP, as export jobs: the entity rows (streamed to a file under `directory`, never held
 * whole), checked as the export's plan checks them (features or service, `event_timestamp`, join keys) so
 * that bad input is refused before a job exists, then submitted on `<project>.jobs` like
 * `featurelog export`; the result is the job's Parquet file in the same directory, read back as it is or
 * as Arrow record batches, one per row group.
 */
export class TrainingSets {
  readonly uploadLimit: number;
  /** Jobs submitted here that the worker's fold may not have reached yet. */
  private readonly pending = new Map<string, JobState>();
  /** Ended jobs whose uploaded entity file was removed. */
  private readonly cleaned = new Set<string>();

  constructor(private readonly options: TrainingSetsOptions) {
    this.uploadLimit = options.uploadLimit ?? DEFAULT_TRAINING_SET_UPLOAD_LIMIT;
  }

  /** Entity rows as a binary body (Arrow IPC or Parquet), streamed to a file, then submitted. */
  async submitUpload(
    body: AsyncIterable<Uint8Array> | undefined,
    format: 'arrow' | 'parquet',
    options: TrainingSetOptions,
    requestedBy?: string,
  ): Promise<SubmittedTrainingSet> {
    const jobId = randomUUID();
    // The options are checked before a byte is stored.
    const request = this.exportRequest(jobId, format, options);
    if (body === undefined)
      throw new FeaturelogError('TRAINING_SET_BODY_MISSING', `the body must be the entity rows (${format})`);
    await mkdir(this.options.directory, { recursive: true });
    try {
      await this.store(body, request.entities, format);
      return await this.submit(jobId, request, requestedBy);
    } catch (error) {
      await rm(request.entities, { force: true });
      throw asUploaded(error, request.entities);
    }
  }

  /** Entity rows as JSON (see {@link parseTrainingSetJson}), written as an Arrow file, then submitted. */
  async submitJson(body: unknown, requestedBy?: string): Promise<SubmittedTrainingSet> {
    const { entities, options } = parseTrainingSetJson(body);
    const jobId = randomUUID();
    const request = this.exportRequest(jobId, 'arrow', options);
    const bytes = jsonEntityRowsToArrow(entities);
    await mkdir(this.options.directory, { recursive: true });
    try {
      await writeFile(request.entities, bytes);
      return await this.submit(jobId, request, requestedBy);
    } catch (error) {
      await rm(request.entities, { force: true });
      throw asUploaded(error, request.entities);
    }
  }

  /** The job's state; 404 for an id that is not a training set of this directory. */
  state(jobId: string): TrainingSetState {
    const job = this.options.jobs.get(jobId);
    if (job !== undefined) {
      this.pending.delete(jobId);
      if (job.spec.kind !== 'export' || job.spec.request.output !== this.outputOf(jobId)) {
        throw new FeaturelogError('TRAINING_SET_NOT_FOUND', `job ${jobId} is not a training set requested over HTTP`);
      }
      // The upload is needed until the job ends; then only its result is.
      if (isJobEnded(job) && !this.cleaned.has(jobId)) {
        this.cleaned.add(jobId);
        void rm(job.spec.request.entities, { force: true }).catch(() => undefined);
      }
      return job;
    }
    const pending = this.pending.get(jobId);
    if (pending !== undefined) return pending;
    throw new FeaturelogError('TRAINING_SET_NOT_FOUND', `no training set ${jobId} on the jobs topic`);
  }

  /**
   * The finished job's Parquet file: 409 JOB_NOT_FINISHED while it is requested or running, the job's
   * own error once it failed, JOB_CANCELLED once cancelled, TRAINING_SET_RESULT_NOT_FOUND when the file is
   * not on this server (written by a worker on another machine, or removed).
   */
  async resultFile(jobId: string): Promise<{ path: string; rows: number; bytes: number; job: JobState }> {
    const job = this.state(jobId);
    if (!isJobEnded(job)) {
      const progress = job.progress ? ` (${job.progress.phase}: ${job.progress.done}/${job.progress.total})` : '';
      throw new FeaturelogError(
        'JOB_NOT_FINISHED',
        `training set ${jobId} is ${job.status}${progress}: its result is there once GET /training-sets/${jobId} says finished`,
        { retriable: true },
      );
    }
    if (job.status === 'failed') {
      const error = job.error ?? { code: 'JOB_FAILED', message: 'the job failed', retriable: false };
      throw new FeaturelogError(error.code, `training set ${jobId} failed: ${error.message}`, {
        retriable: error.retriable,
      });
    }
    if (job.status === 'cancelled') {
      throw new FeaturelogError(JOB_CANCELLED, `training set ${jobId} was cancelled: it has no result`);
    }
    const path = this.outputOf(jobId);
    let bytes: number;
    try {
      bytes = (await stat(path)).size;
    } catch {
      throw new FeaturelogError(
        'TRAINING_SET_RESULT_NOT_FOUND',
        `training set ${jobId} finished on worker ${job.worker ?? '?'}, but its file is not on this server (${path})`,
      );
    }
    const rows = (job.result as { rows?: unknown } | undefined)?.rows;
    return { path, rows: typeof rows === 'number' ? rows : -1, bytes, job };
  }

  /** The result as an Arrow IPC stream: the schema, then one record batch per row group of the Parquet file. */
  arrowStream(path: string): Readable {
    // A failure midway destroys the stream with the error: the HTTP answer is cut off, never ended as if complete.
    return Readable.from(arrowIpcChunks(path), { objectMode: false });
  }

  private exportRequest(jobId: string, format: EntityFileFormat, options: TrainingSetOptions): ExportRequest {
    try {
      return parseExportRequest(
        {
          ...options,
          entities: join(this.options.directory, `${jobId}.entities.${format}`),
          entitiesFormat: format,
          output: this.outputOf(jobId),
        },
        this.options.directory,
      );
    } catch (error) {
      if (error instanceof FeaturelogError) throw invalid(error.message);
      throw error;
    }
  }

  private outputOf(jobId: string): string {
    return join(this.options.directory, `${jobId}.parquet`);
  }

  private async store(body: AsyncIterable<Uint8Array>, path: string, format: string): Promise<void> {
    const limit = this.uploadLimit;
    let received = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        if (received > limit) {
          done(
            new FeaturelogError(
              'PAYLOAD_TOO_LARGE',
              `the entity file is larger than the upload limit of ${limit} bytes; split the request or raise trainingSets.uploadLimit`,
            ),
          );
          return;
        }
        done(null, chunk);
      },
    });
    try {
      await pipelineAsync(Readable.from(body), count, createWriteStream(path, { flags: 'wx' }));
    } catch (error) {
      if (error instanceof FeaturelogError) throw error;
      throw new FeaturelogError(
        'TRAINING_SET_UPLOAD_FAILED',
        `the entity rows could not be received: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    if (received === 0) {
      throw new FeaturelogError(
        'TRAINING_SET_BODY_MISSING',
        `the body is empty: it must be the entity rows (${format})`,
      );
    }
  }

  private async submit(jobId: string, request: ExportRequest, requestedBy?: string): Promise<SubmittedTrainingSet> {
    // What the job's first stage would refuse is refused here, before there is a job: features or
    // service, views kept offline, the entity file's format, `event_timestamp` and join keys.
    await planExport(this.options.project, request, await this.options.definitions());
    const submitted = await this.options.jobs.submit(
      { kind: 'export', request },
      { jobId, ...(requestedBy === undefined ? {} : { requestedBy }) },
    );
    const state: JobState = {
      jobId,
      spec: { kind: 'export', request },
      status: 'requested',
      requestedAt: Date.now() * 1000,
      ...(requestedBy === undefined ? {} : { requestedBy }),
      offset: submitted.offset,
    };
    if (this.options.jobs.get(jobId) === undefined) this.pending.set(jobId, state);
    return { id: jobId, jobId, offset: submitted.offset, status: 'requested' };
  }
}

/** The end-of-stream marker of the Arrow IPC stream format: continuation 0xFFFFFFFF, then a zero length. */
const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

/**
 * The Arrow IPC stream of a training set's Parquet file, a row group at a time: the schema message, each
 * batch's message and body, the end-of-stream marker. Each batch is written by a writer of its own (Arrow's
 * streaming writer buffers its output in a queue that only an async reader drains), its schema prefix and
 * end marker cut off, so a batch is serialized and handed on before the next row group is read.
 */
async function* arrowIpcChunks(path: string): AsyncGenerator<Uint8Array> {
  let schemaLength: number | undefined;
  for await (const batch of parquetRecordBatches(path)) {
    const bytes = RecordBatchStreamWriter.writeAll([batch]).toUint8Array(true);
    if (schemaLength === undefined) {
      schemaLength =
        RecordBatchStreamWriter.writeAll(new Table(batch.schema)).toUint8Array(true).length - END_OF_STREAM.length;
      yield bytes.subarray(0, bytes.length - END_OF_STREAM.length);
    } else {
      yield bytes.subarray(schemaLength, bytes.length - END_OF_STREAM.length);
    }
  }
  yield END_OF_STREAM;
}

/** What `POST /training-sets` answers (202). */
export interface SubmittedTrainingSet {
  id: string;
  jobId: string;
  offset: number;
  status: 'requested';
}
