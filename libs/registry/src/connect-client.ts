import { setTimeout as delay } from 'node:timers/promises';
import { FeaturelogError } from '@featurelog/domain';

/** One task of a connector, as the worker reports it. */
export interface ConnectTaskStatus {
  id: number;
  state: string;
  workerId?: string;
  /** The stack trace of a FAILED task, as the worker gives it. */
  trace?: string;
}

export interface ConnectConnectorStatus {
  name: string;
  /** RUNNING, PAUSED, FAILED, UNASSIGNED, RESTARTING, STOPPED. */
  state: string;
  workerId?: string;
  trace?: string;
  tasks: ConnectTaskStatus[];
  type?: string;
}

/** The worker's verdict on a config: the messages it gives per config key; empty when valid. */
export type ConnectValidationErrors = Array<{ field: string; messages: string[] }>;

export interface ConnectClientOptions {
  /** Bound on one request; a worker that hangs is treated like one that is down. */
  requestTimeoutMs?: number;
  /** Attempts of one call through 409 (rebalance in progress) and connection failures. */
  attempts?: number;
  /** First wait between attempts, doubled each time. */
  retryDelayMs?: number;
}

/**
 * The Kafka Connect REST API of one worker (any worker of a Connect cluster forwards to the leader).
 * Calls are retried through 409 (the cluster is rebalancing) and connection failures, with backoff;
 * what is left after the last attempt is thrown: CONNECT_UNAVAILABLE / CONNECT_REBALANCING
 * (retriable) or CONNECT_REQUEST_FAILED with the worker's own message.
 */
export class ConnectClient {
  private readonly requestTimeoutMs: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;

  constructor(
    readonly url: string,
    { requestTimeoutMs = 10_000, attempts = 5, retryDelayMs = 250 }: ConnectClientOptions = {},
  ) {
    this.requestTimeoutMs = requestTimeoutMs;
    this.attempts = attempts;
    this.retryDelayMs = retryDelayMs;
  }

  /** Throws CONNECT_UNAVAILABLE when the worker does not answer. */
  async ping(): Promise<void> {
    await this.request('GET', '/', undefined, { attempts: 1 });
  }

  async connectorNames(): Promise<string[]> {
    return (await this.request('GET', '/connectors')) as string[];
  }

  /** The connector's config as the worker holds it, or undefined when it has no such connector. */
  async config(name: string): Promise<Record<string, string> | undefined> {
    return (await this.request('GET', `/connectors/${enc(name)}/config`, undefined, { notFound: true })) as
      Record<string, string> | undefined;
  }

  /** Creates or replaces the connector's config (idempotent). */
  async putConfig(name: string, config: Record<string, string>): Promise<void> {
    await this.request('PUT', `/connectors/${enc(name)}/config`, config);
  }

  /** Deletes the connector; one that is already gone is not an error. */
  async delete(name: string): Promise<void> {
    await this.request('DELETE', `/connectors/${enc(name)}`, undefined, { notFound: true });
  }

  async pause(name: string): Promise<void> {
    await this.request('PUT', `/connectors/${enc(name)}/pause`);
  }

  async resume(name: string): Promise<void> {
    await this.request('PUT', `/connectors/${enc(name)}/resume`);
  }

  /** Restarts the connector and those of its tasks that FAILED. */
  async restartFailed(name: string): Promise<void> {
    await this.request('POST', `/connectors/${enc(name)}/restart?includeTasks=true&onlyFailed=true`);
  }

  /** The state of the connector and its tasks, or undefined when the worker has no such connector. */
  async status(name: string): Promise<ConnectConnectorStatus | undefined> {
    const body = (await this.request('GET', `/connectors/${enc(name)}/status`, undefined, { notFound: true })) as
      RawStatus | undefined;
    if (body === undefined) return undefined;
    return {
      name: body.name,
      state: body.connector.state,
      ...(body.connector.worker_id !== undefined && { workerId: body.connector.worker_id }),
      ...(body.connector.trace !== undefined && { trace: body.connector.trace }),
      ...(body.type !== undefined && { type: body.type }),
      tasks: (body.tasks ?? [])
        .map((task) => ({
          id: task.id,
          state: task.state,
          ...(task.worker_id !== undefined && { workerId: task.worker_id }),
          ...(task.trace !== undefined && { trace: task.trace }),
        }))
        .sort((a, b) => a.id - b.id),
    };
  }

  /** Asks the worker's plugin to validate a config (`name` and `connector.class` included); changes nothing. */
  async validate(connectorClass: string, config: Record<string, string>): Promise<ConnectValidationErrors> {
    const body = (await this.request('PUT', `/connector-plugins/${enc(connectorClass)}/config/validate`, config)) as {
      configs?: Array<{ value?: { name?: string; errors?: string[] } }>;
    };
    return (body.configs ?? [])
      .map((entry) => ({ field: entry.value?.name ?? '?', messages: entry.value?.errors ?? [] }))
      .filter((entry) => entry.messages.length > 0);
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    { notFound = false, attempts = this.attempts }: { notFound?: boolean; attempts?: number } = {},
  ): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, body, notFound);
      } catch (error) {
        if (!(error instanceof FeaturelogError) || !error.retriable || attempt >= attempts) throw error;
        await delay(this.retryDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  private async once(method: string, path: string, body: unknown, notFound: boolean): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: { accept: 'application/json', ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (cause) {
      throw new FeaturelogError(
        'CONNECT_UNAVAILABLE',
        `the Kafka Connect worker at ${this.url} does not answer (${method} ${path.split('?')[0]}: ${describeCause(cause)})`,
        { retriable: true, cause },
      );
    }
    const text = await response.text();
    if (response.status === 404 && notFound) return undefined;
    if (response.ok) return text === '' ? undefined : (JSON.parse(text) as unknown);
    const message = workerMessage(text);
    if (response.status === 409) {
      throw new FeaturelogError(
        'CONNECT_REBALANCING',
        `the Kafka Connect cluster at ${this.url} is rebalancing (${method} ${path}: ${message})`,
        { retriable: true },
      );
    }
    throw new FeaturelogError(
      'CONNECT_REQUEST_FAILED',
      `the Kafka Connect worker at ${this.url} refused ${method} ${path.split('?')[0]} (${response.status}): ${message}`,
      // A 5xx may be a worker starting up or a transient fault; a 4xx will fail again, and so will a 500
      // that wraps a BadRequestException (Connect answers an unknown connector class so).
      { retriable: response.status >= 500 && !message.includes('BadRequestException') },
    );
  }
}

interface RawStatus {
  name: string;
  type?: string;
  connector: { state: string; worker_id?: string; trace?: string };
  tasks?: Array<{ id: number; state: string; worker_id?: string; trace?: string }>;
}

const enc = (part: string) => encodeURIComponent(part);

function workerMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Not JSON: the text itself is the message.
  }
  return text.slice(0, 500) || '(no message)';
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause;
    const code = inner instanceof Error ? ((inner as { code?: string }).code ?? inner.message) : undefined;
    return code ? `${cause.message}: ${code}` : cause.message;
  }
  return String(cause);
}

/** The first lines of a task's stack trace: the exception and its message, without the frames. */
export function traceSummary(trace: string | undefined, lines = 2): string | undefined {
  if (trace === undefined) return undefined;
  return trace
    .split('\n')
    .filter((line) => !/^\s+at /.test(line) && line.trim() !== '')
    .slice(0, lines)
    .join(' | ');
}
