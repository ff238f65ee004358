import { compareRowVersions, type OnlineStatus, type RowVersion } from '@featurelog/domain';

export interface FeaturelogClientOptions {
  /** Base URL of the serving app, e.g. http://127.0.0.1:6574 */
  url: string;
  /** Sent as `Authorization: Bearer <key>`; never logged or put in error messages. */
  apiKey?: string;
  /** A get-online-features call unanswered this long fails (retriable). */
  timeoutMs?: number;
}

/** A JSON feature value: bytes arrive as base64, timestamps as RFC 3339 UTC text, float32 as its shortest decimal, NaN/±Infinity as strings. */
export type FeatureJson = boolean | number | string | null | FeatureJson[];

export type FeatureSelection =
  { features: string[]; featureService?: never } | { featureService: string; features?: never };

export type OnlineFeaturesRequest = FeatureSelection & {
  /** Join key → one value per entity row. */
  entities: Record<string, unknown[]>;
  fullFeatureNames?: boolean;
};

/** Feast's shape: one column per name (join keys first), indexed by entity row. */
export interface OnlineFeaturesResponse {
  metadata: { feature_names: string[] };
  results: Array<{ values: FeatureJson[]; statuses: OnlineStatus[]; event_timestamps: string[] }>;
}

/** A subscribed (view, entity) as the server sends it. */
export interface SubscribedRow {
  view: string;
  entity_key: string;
  entity: Record<string, unknown>;
  status: OnlineStatus;
  event_timestamp: string | null;
  version: {
    event_timestamp: number;
    created_timestamp: number | null;
    partition: number;
    offset: number;
    /** Where a change-data-capture row sits in its database's log (digits); ranks between created_timestamp and the log position. */
    source_position?: string;
  } | null;
  values: Record<string, FeatureJson> | null;
  /** A delete (change data capture): the view is absent for the entity from this version on (status NOT_FOUND). */
  deleted?: boolean;
}

/** Server errors keep their code and status; `retriable` says whether trying again can help. */
export class FeaturelogClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number | undefined,
    readonly retriable: boolean,
  ) {
    super(message);
    this.name = 'FeaturelogClientError';
  }
}

export interface SubscribeHandlers {
  /** A value newer than the one held (from a snapshot or an update). */
  onChange?: (row: SubscribedRow) => void;
  /**
   * A fresh snapshot follows: the server dropped updates for this subscriber, or the registry
   * changed what it reads (reason `registry changed`; the snapshot then has the new feature names),
   * or a reconnect could not resume where the last connection stood (the server's `reset`).
   */
  onResync?: (reason: string) => void;
  /**
   * The stream broke; `willRetry` false means the subscription is over (e.g. 401, 404, or a view it
   * reads was deleted from the registry).
   */
  onError?: (error: FeaturelogClientError, willRetry: boolean) => void;
}

export interface SubscribeOptions extends SubscribeHandlers {
  /** First pause before reconnecting; doubles up to maxReconnectDelayMs. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
}

const ARROW_STREAM_MEDIA_TYPE = 'application/vnd.apache.arrow.stream';

/**
 * A typed client for the serving API on Node's own fetch, with no dependencies.
 */
export class FeaturelogClient {
  private readonly base: string;

  constructor(private readonly options: FeaturelogClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  async getOnlineFeatures(request: OnlineFeaturesRequest): Promise<OnlineFeaturesResponse> {
    const response = await this.postOnlineFeatures(request, 'application/json');
    return (await response.json()) as OnlineFeaturesResponse;
  }

  /**
   * The same answer as one Arrow IPC stream, as its bytes (read them with any Arrow library, e.g.
   * apache-arrow's `tableFromIPC`): the join-key columns, then per feature `<feature>`,
   * `<feature>__status` and `<feature>__event_timestamp` (see the serving app's /docs). Returned as bytes
   * so that this client keeps no dependency.
   */
  async getOnlineFeaturesArrow(request: OnlineFeaturesRequest): Promise<Uint8Array> {
    const response = await this.postOnlineFeatures(request, ARROW_STREAM_MEDIA_TYPE);
    const type = response.headers.get('content-type');
    if (type !== ARROW_STREAM_MEDIA_TYPE) {
      throw new FeaturelogClientError(
        'UNEXPECTED_RESPONSE',
        `the server answered ${String(type)}, not Arrow: it may predate Arrow answers`,
        response.status,
        false,
      );
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  private async postOnlineFeatures(request: OnlineFeaturesRequest, accept: string): Promise<Response> {
    const body = {
      ...(request.features ? { features: request.features } : { feature_service: request.featureService }),
      entities: request.entities,
      full_feature_names: request.fullFeatureNames ?? false,
    };
    let response: Response;
    try {
      response = await fetch(`${this.base}/get-online-features`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, ...this.authHeaders() },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw unreachable(error);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  /**
   * Follows the current values and every change of the given entities. Reconnects by itself after a
   * network error, a server restart or an `error` event, with the last event id (`Last-Event-ID`):
   * the server then sends only the changes missed meanwhile, or `reset` and a fresh snapshot when it
   * cannot. Any value whose version is not newer than the one held is dropped, so the cache never
   * goes back in time.
   */
  subscribe(request: OnlineFeaturesRequest, options: SubscribeOptions = {}): FeatureSubscription {
    const query = new URLSearchParams();
    if (request.features) query.set('features', request.features.join(','));
    else query.set('feature_service', request.featureService);
    query.set('entities', JSON.stringify(request.entities));
    if (request.fullFeatureNames) query.set('full_feature_names', 'true');
    return new FeatureSubscription(`${this.base}/subscribe?${query.toString()}`, this.authHeaders(), options);
  }

  private authHeaders(): Record<string, string> {
    return this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {};
  }
}

/** A live cache of subscribed values; see FeaturelogClient.subscribe. */
export class FeatureSubscription {
  private readonly rows = new Map<string, SubscribedRow>();
  private readonly abort = new AbortController();
  private resolveReady!: () => void;
  private rejectReady!: (error: Error) => void;
  /** Resolves once the first snapshot is held; rejects if the subscription cannot start (4xx). */
  readonly ready: Promise<void>;
  /** Connections made so far (1 after the first). */
  connections = 0;
  /** The server's id of the last event (where the stream stands), sent as Last-Event-ID on reconnect. */
  lastEventId = '';
  private closed = false;
  readonly done: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly options: SubscribeOptions,
  ) {
    this.ready = new Promise<void>((resolve, reject) => ((this.resolveReady = resolve), (this.rejectReady = reject)));
    this.ready.catch(() => undefined);
    this.done = this.run();
  }

  /** The value held for a view and entity key (as encoded by the server, e.g. `driver_id=1001`). */
  get(view: string, entityKey: string): SubscribedRow | undefined {
    return this.rows.get(`${view}\u0000${entityKey}`);
  }

  values(): SubscribedRow[] {
    return [...this.rows.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    const first = this.options.reconnectDelayMs ?? 200;
    const max = this.options.maxReconnectDelayMs ?? 10_000;
    let delay = first;
    while (!this.closed) {
      let error: FeaturelogClientError;
      try {
        const gotSnapshot = await this.connectOnce();
        if (gotSnapshot) delay = first;
        error = new FeaturelogClientError('STREAM_ENDED', 'the server ended the stream', undefined, true);
      } catch (caught) {
        if (this.closed) break;
        error = caught instanceof FeaturelogClientError ? caught : unreachable(caught);
      }
      if (this.closed) break;
      this.options.onError?.(error, error.retriable);
      if (!error.retriable) {
        this.rejectReady(error);
        return;
      }
      await sleep(delay, this.abort.signal);
      delay = Math.min(delay * 2, max);
    }
  }

  /** One connection; resolves when the stream ends, true if a snapshot or an update came through it. */
  private async connectOnce(): Promise<boolean> {
    const resumeFrom: Record<string, string> = this.lastEventId === '' ? {} : { 'last-event-id': this.lastEventId };
    const response = await fetch(this.url, {
      headers: { accept: 'text/event-stream', ...this.headers, ...resumeFrom },
      signal: this.abort.signal,
    });
    if (!response.ok) throw await errorOf(response);
    this.connections++;
    let gotSnapshot = false;
    let buffer = '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let data = '';
        let id: string | undefined;
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trimStart();
          else if (line.startsWith('id:')) id = line.slice(3).trimStart();
        }
        if (data === '') continue;
        const payload = JSON.parse(data) as Record<string, unknown>;
        if (event === 'snapshot') {
          this.holdSnapshot(payload.rows as SubscribedRow[]);
          gotSnapshot = true;
          this.resolveReady();
        } else if (event === 'update') {
          this.hold(payload as unknown as SubscribedRow);
          gotSnapshot = true;
        } else if (event === 'resync' || event === 'reset') {
          this.options.onResync?.(String(payload.reason));
        } else if (event === 'error') {
          throw new FeaturelogClientError(
            String(payload.code),
            String(payload.message),
            undefined,
            payload.retriable !== false,
          );
        }
        // Taken once the event is held: one cut off by a broken connection is sent again.
        if (id !== undefined) this.lastEventId = id;
      }
    }
    return gotSnapshot;
  }

  /**
   * A snapshot names every (view, entity) the subscription reads now: what it no longer names is
   * dropped (the registry changed the selection), and a row of the version held replaces the held one
   * (its columns may have changed), without calling onChange unless its values did.
   */
  private holdSnapshot(rows: readonly SubscribedRow[]): void {
    const named = new Set(rows.map((row) => rowKey(row)));
    for (const key of [...this.rows.keys()]) if (!named.has(key)) this.rows.delete(key);
    for (const row of rows) this.hold(row, true);
  }

  private hold(row: SubscribedRow, fromSnapshot = false): void {
    const key = rowKey(row);
    const held = this.rows.get(key);
    if (held !== undefined) {
      // A NOT_FOUND never replaces a value, and an older version never replaces a newer one.
      if (row.version === null) return;
      const order = held.version === null ? 1 : compareRowVersions(asVersion(row.version), asVersion(held.version));
      if (order < 0 || (order === 0 && !fromSnapshot)) return;
      if (order === 0) {
        this.rows.set(key, row);
        if (JSON.stringify(row.values) !== JSON.stringify(held.values)) this.options.onChange?.(row);
        return;
      }
    }
    this.rows.set(key, row);
    if (row.version !== null) this.options.onChange?.(row);
  }
}

const rowKey = (row: SubscribedRow): string => `${row.view}\u0000${row.entity_key}`;

function asVersion(version: NonNullable<SubscribedRow['version']>): RowVersion {
  return {
    eventTimestamp: version.event_timestamp,
    createdTimestamp: version.created_timestamp,
    position: { partition: version.partition, offset: version.offset },
    ...(version.source_position === undefined ? {} : { sourcePosition: version.source_position }),
  };
}

async function errorOf(response: Response): Promise<FeaturelogClientError> {
  let body: { code?: string; message?: unknown; retriable?: boolean } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    // not our JSON: keep the status alone
  }
  const message = Array.isArray(body.message) ? body.message.join('; ') : String(body.message ?? response.statusText);
  return new FeaturelogClientError(
    body.code ?? `HTTP_${response.status}`,
    `${response.status}: ${message}`,
    response.status,
    body.retriable ?? response.status >= 500,
  );
}

function unreachable(error: unknown): FeaturelogClientError {
  const reason =
    error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
  return new FeaturelogClientError('UNREACHABLE', `the serving API did not answer: ${reason}`, undefined, true);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
