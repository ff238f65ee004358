import type { Type } from 'avsc';
import {
  encodeEntityKey,
  FeaturelogError,
  findDefinition,
  getDataSource,
  requireDefinition,
  topicNames,
  validateRow,
  valueSubject,
  viewJoinKeys,
  type DefinitionSource,
  type FeatureViewDefinition,
  type JoinKey,
  type RowProblem,
  type TaggedDefinition,
} from '@featurelog/domain';
import { avroType, encodeRow, type FeatureRow, type SchemaRegistryPort } from '@featurelog/avro';
import type { AppendRecord, EventLog, RecordPosition } from '@featurelog/log';
import { RegistryFollower } from '@featurelog/registry';
import { InvalidRowsError, type RowProblemAt } from './invalid-rows.error';
import { rowNormalizer, type InputRow } from './row-input';

export interface FeatureProducerOptions {
  log: EventLog;
  schemas: SchemaRegistryPort;
  project: string;
  /**
   * Where view definitions come from: a follower of the registry log (what is applied now; a view
   * not yet known makes it catch up once), or explicit definitions (apps that pin what they produce).
   */
  definitions: RegistryFollower | readonly TaggedDefinition[];
  /** Rows per append: bounds one Kafka request (the broker refuses batches over message.max.bytes). */
  appendBatchSize?: number;
}

export interface ProduceOptions {
  /** Added to every record, e.g. where a push came from. */
  headers?: Record<string, string>;
}

export interface ProduceResult {
  view: string;
  topic: string;
  produced: number;
  /** In the order of the rows. */
  positions: RecordPosition[];
}

export interface ProduceStreamOptions extends ProduceOptions {
  /** Rows per append. */
  batchSize?: number;
  /** Encoded batches awaiting their append before write() waits: encoding overlaps the round trips. */
  maxInFlight?: number;
}

/**
 * What producing to one view needs, resolved once per definition: the topic, the id of the latest
 * row schema registered under `<topic>-value` (the one `featurelog apply` registered for this
 * definition) and its Avro type.
 */
export class ViewTarget {
  readonly topic: string;
  readonly subject: string;
  private readonly normalize: (row: InputRow) => Record<string, unknown>;

  constructor(
    readonly view: FeatureViewDefinition,
    readonly joinKeys: readonly JoinKey[],
    project: string,
    readonly schemaId: number,
    private readonly type: Type,
  ) {
    this.topic = topicNames.features(project, view);
    this.subject = valueSubject(this.topic);
    this.normalize = rowNormalizer(view, joinKeys);
    this.knownFields = new Set([
      ...joinKeys.map((key) => key.name),
      'event_timestamp',
      'created_timestamp',
      ...view.features.map((feature) => feature.name),
    ]);
    this.timestampFields = new Set([
      'event_timestamp',
      'created_timestamp',
      ...view.features.filter((f) => f.type === 'timestamp').map((f) => f.name),
    ]);
  }

  private readonly timestampFields: ReadonlySet<string>;
  private readonly knownFields: ReadonlySet<string>;

  /**
   * The row in the domain representation and its problems (empty when it can be produced). Fields
   * that are not join keys, timestamps or features are problems too: a misspelt feature would
   * otherwise be produced as null.
   */
  check(input: InputRow): { row: Record<string, unknown>; problems: RowProblem[] } {
    const row = this.normalize(input);
    const problems = validateRow(this.view, this.joinKeys, row);
    // validateRow's own rejectUnknownFields builds the set of known fields for every row.
    for (const field in row) {
      if (!this.knownFields.has(field)) {
        problems.push({
          field,
          code: 'UNKNOWN_FIELD',
          message: `${field} is no join key, timestamp or feature of ${this.view.name}`,
        });
      }
    }
    for (const problem of problems) {
      const value = row[problem.field];
      // Text reaches validation only when it did not parse: say which forms are read, not only micros.
      if (typeof value === 'string' && this.timestampFields.has(problem.field)) {
        problem.message = `${problem.field} ${JSON.stringify(value)} is neither an ISO 8601 timestamp (e.g. 2025-01-31T12:00:00.123456Z; naive means UTC) nor epoch microseconds`;
      }
    }
    return { row, problems };
  }

  /** The record of a checked row: keyed by its encoded entity key, valued in the Confluent wire format. */
  record(row: Record<string, unknown>, headers?: Record<string, string>): AppendRecord {
    const record: AppendRecord = {
      key: Buffer.from(encodeEntityKey(this.joinKeys, row)),
      value: encodeRow(this.schemaId, this.type, row as FeatureRow),
    };
    if (headers !== undefined) record.headers = headers;
    return record;
  }
}

/**
 * Produces feature rows of views to their topics, for Node backend apps, the CLI's ingest and the
 * push endpoint. Every row is validated against the view's definition before anything of a call is
 * appended; rows are keyed by entity so one entity's rows stay in one partition, in order. It only
 * uses the EventLog and schema registry ports, so it works on the embedded log and on Kafka alike
 * (where the adapter's idempotent producer with acks=-1 does the appending).
 */
export class FeatureProducer {
  private readonly targets = new Map<
    string,
    { definition: FeatureViewDefinition; entities: unknown[]; target: Promise<ViewTarget> }
  >();
  private readonly appendBatchSize: number;

  constructor(private readonly options: FeatureProducerOptions) {
    this.appendBatchSize = options.appendBatchSize ?? 1_000;
  }

  /** The definitions producing goes by, as of now. */
  get definitions(): DefinitionSource {
    const { definitions } = this.options;
    return definitions instanceof RegistryFollower ? definitions.state : definitions;
  }

  /**
   * Resolves a view to produce to. Throws UNKNOWN_FEATURE_VIEW, VIEW_NOT_PRODUCIBLE (its rows come from
   * an existing topic with its own schema), VIEW_NOT_PROVISIONED (no schema registered: not applied?) or
   * VIEW_SCHEMA_STALE (the registered schema lacks a field of the definition).
   */
  async target(viewName: string): Promise<ViewTarget> {
    let view = findDefinition(this.definitions, 'feature_view', viewName);
    if (view === undefined && this.options.definitions instanceof RegistryFollower) {
      await this.options.definitions.catchUp();
      view = findDefinition(this.definitions, 'feature_view', viewName);
    }
    if (view === undefined) {
      throw new FeaturelogError('UNKNOWN_FEATURE_VIEW', `feature view "${viewName}" is not defined`);
    }
    const entities = view.entities.map((name) => requireDefinition(this.definitions, 'entity', name));
    const cached = this.targets.get(viewName);
    // Definitions are replaced, never mutated, when applied: identity says whether this one is still current.
    if (cached && cached.definition === view && cached.entities.every((entity, i) => entity === entities[i])) {
      return cached.target;
    }
    const target = this.resolve(view);
    this.targets.set(viewName, { definition: view, entities, target });
    target.catch(() => this.targets.delete(viewName));
    return target;
  }

  private async resolve(view: FeatureViewDefinition): Promise<ViewTarget> {
    const source = view.source === undefined ? undefined : getDataSource(this.definitions, view.source);
    if (source?.kind === 'kafka') {
      throw new FeaturelogError(
        'VIEW_NOT_PRODUCIBLE',
        `feature view "${view.name}" reads the existing topic ${source.topic} (data source "${source.name}"); produce to that topic with its own schema instead`,
      );
    }
    const joinKeys = viewJoinKeys(this.definitions, view);
    const topic = topicNames.features(this.options.project, view);
    const registered = await this.options.schemas.latestVersion(valueSubject(topic));
    if (registered === undefined) {
      throw new FeaturelogError(
        'VIEW_NOT_PROVISIONED',
        `no row schema is registered under ${valueSubject(topic)}, so feature view "${view.name}" cannot be produced to; run featurelog apply`,
      );
    }
    const type = avroType(registered.schema);
    const fields = new Set(((type as Type & { fields?: Array<{ name: string }> }).fields ?? []).map((f) => f.name));
    const expected = [...joinKeys.map((k) => k.name), 'event_timestamp', ...view.features.map((f) => f.name)];
    const missing = expected.filter((name) => !fields.has(name));
    if (missing.length > 0) {
      throw new FeaturelogError(
        'VIEW_SCHEMA_STALE',
        `the latest schema under ${valueSubject(topic)} (id ${registered.id}) has no field ${missing.join(', ')} of feature view "${view.name}"; run featurelog apply`,
      );
    }
    return new ViewTarget(view, joinKeys, this.options.project, registered.id, type);
  }

  /** Every problem of every row (row = index in `rows`), without producing anything. */
  async validate(viewName: string, rows: readonly InputRow[]): Promise<RowProblemAt[]> {
    const target = await this.target(viewName);
    return rows.flatMap((row, i) => target.check(row).problems.map((problem) => ({ row: i, ...problem })));
  }

  /**
   * Validates every row, then appends them all; durable once resolved. Throws InvalidRowsError (code
   * INVALID_ROWS, every problem with its row index and field) and produces nothing if any row is invalid.
   */
  async produce(viewName: string, rows: readonly InputRow[], options: ProduceOptions = {}): Promise<ProduceResult> {
    const target = await this.target(viewName);
    const checked = rows.map((row) => target.check(row));
    const problems = checked.flatMap(({ problems }, i) => problems.map((problem) => ({ row: i, ...problem })));
    if (problems.length > 0) throw new InvalidRowsError(viewName, problems, { rowCount: rows.length });
    const records = checked.map(({ row }) => target.record(row, options.headers));
    const chunks: AppendRecord[][] = [];
    for (let start = 0; start < records.length; start += this.appendBatchSize) {
      chunks.push(records.slice(start, start + this.appendBatchSize));
    }
    // One append at a time: concurrent appends may be reordered (kafkajs does), and one entity's rows must
    // reach its partition in the order given.
    const positions: RecordPosition[] = [];
    for (const chunk of chunks) positions.push(...(await this.options.log.append(target.topic, chunk)));
    return { view: viewName, topic: target.topic, produced: records.length, positions };
  }

  /** A stream of rows into one view, for large inputs (see ProduceStream). */
  async stream(viewName: string, options: ProduceStreamOptions = {}): Promise<ProduceStream> {
    return new ProduceStream(this.options.log, await this.target(viewName), {
      batchSize: options.batchSize ?? this.appendBatchSize,
      maxInFlight: options.maxInFlight ?? 4,
      ...(options.headers === undefined ? {} : { headers: options.headers }),
    });
  }
}

/**
 * Rows into one view, appended in batches, one append at a time (so each entity's rows keep their
 * order) while up to `maxInFlight` encoded batches wait their turn. Invalid rows are not
 * produced: write() returns their problems and the caller decides (report, reject file, abort).
 * An append failure is remembered and thrown by the next write(), flush() or close().
 */
export class ProduceStream {
  private pending: AppendRecord[] = [];
  /** Batches handed over and not yet acknowledged. */
  private queued = 0;
  /** Appends run one after another on this chain, so batches reach the log in the order written. */
  private chain: Promise<void> = Promise.resolve();
  /** Resolved (and replaced) whenever a batch is acknowledged or fails: wakes a waiting write. */
  private settled = signal();
  private failure: unknown;
  private acknowledged = 0;
  private written = 0;

  constructor(
    private readonly log: EventLog,
    readonly target: ViewTarget,
    private readonly options: { batchSize: number; maxInFlight: number; headers?: Record<string, string> },
  ) {}

  /** Rows the log has acknowledged so far. */
  get produced(): number {
    return this.acknowledged;
  }

  /** Rows accepted by write() so far (acknowledged or not). */
  get accepted(): number {
    return this.written;
  }

  /**
   * Checks and queues rows; returns the problems of the invalid ones (index in `rows`), which are
   * not produced. Waits while `maxInFlight` appends are unacknowledged.
   */
  async write(rows: readonly InputRow[]): Promise<RowProblemAt[]> {
    this.throwIfFailed();
    const problems: RowProblemAt[] = [];
    for (let i = 0; i < rows.length; i++) {
      const { row, problems: rowProblems } = this.target.check(rows[i]!);
      if (rowProblems.length > 0) {
        for (const problem of rowProblems) problems.push({ row: i, ...problem });
        continue;
      }
      this.pending.push(this.target.record(row, this.options.headers));
      this.written++;
      if (this.pending.length >= this.options.batchSize) await this.send();
    }
    return problems;
  }

  /** Sends what is queued and waits until everything written is acknowledged. */
  async flush(): Promise<void> {
    if (this.pending.length > 0) await this.send();
    await this.chain;
    this.throwIfFailed();
  }

  /** flush(), then the count of produced rows. */
  async close(): Promise<{ view: string; topic: string; produced: number }> {
    await this.flush();
    return { view: this.target.view.name, topic: this.target.topic, produced: this.acknowledged };
  }

  private async send(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    while (this.queued >= this.options.maxInFlight) await this.settled.promise;
    this.throwIfFailed();
    this.queued++;
    const settle = () => {
      this.queued--;
      this.settled.resolve();
      this.settled = signal();
    };
    this.chain = this.chain.then(async () => {
      // After a failure nothing more is appended: later rows would land after a gap.
      if (this.failure !== undefined) return settle();
      try {
        await this.log.append(this.target.topic, batch);
        this.acknowledged += batch.length;
      } catch (error) {
        this.failure ??= error;
      }
      settle();
    });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}
