import {
  canonicalJson,
  listDefinitions,
  resolveConnectorConfig,
  type ConnectorDefinition,
  type RegistryState,
} from '@featurelog/domain';
import { traceSummary, type ConnectConnectorStatus } from './connect-client';
import type { ConnectWorkers } from './connect-workers';

/** What the reconciler last saw of one connector the registry holds. */
export interface ReconciledConnector {
  name: string;
  worker: string;
  desiredState: ConnectorDefinition['state'];
  /** The worker's report; absent when the worker could not be read. */
  status?: ConnectConnectorStatus;
  /** Why the last pass could not bring the connector to its definition (worker down, refused config, unset variable). */
  error?: string;
  /** Epoch ms of the last pass that reached the worker for this connector. */
  checkedAt?: number;
}

export interface ConnectorReconcilerOptions {
  /** Passes run on every registry change and at least this often, so a worker that returns is caught up. */
  intervalMs?: number;
  log?: (message: string) => void;
}

/**
 * Makes the Connect workers match the registry. Level-triggered: each pass compares every connector
 * the registry holds with what its worker holds, and does only what differs — PUT the config when it
 * differs (so an unchanged connector is never reconfigured), pause or resume, DELETE connectors the
 * registry deleted. A pass that fails (worker down, 409 after the client's retries) leaves the rest to
 * the next pass. Secrets (`${VAR}`) are resolved here, in the PUT, and nowhere else.
 */
export class ConnectorReconciler {
  private readonly intervalMs: number;
  private readonly log: (message: string) => void;
  private readonly seen = new Map<string, ReconciledConnector>();
  private state: RegistryState | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /**
   * Passes run only once started: the registry app starts the reconciler after its first fold, so
   * the states a cold start folds through (a connector created and later deleted) never reach a worker.
   */
  private started = false;

  constructor(
    private readonly workers: ConnectWorkers,
    { intervalMs = 5_000, log = () => {} }: ConnectorReconcilerOptions = {},
  ) {
    this.intervalMs = intervalMs;
    this.log = log;
  }

  /** Starts periodic passes; call `update` with each new registry state. */
  start(): void {
    this.stopped = false;
    this.started = true;
    this.timer = setInterval(() => void this.trigger(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** A new registry state: reconcile against it (coalesced with a pass already running). */
  update(state: RegistryState): void {
    this.state = state;
    void this.trigger();
  }

  /** The connectors the registry holds, as last seen, sorted by name. */
  connectors(): ReconciledConnector[] {
    return [...this.seen.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Runs a pass now (after the one running, if any) and resolves when it is done. */
  async reconcileNow(): Promise<void> {
    await this.trigger(true);
    await this.running;
  }

  private trigger(now = false): Promise<void> {
    if (this.stopped || this.state === undefined || (!this.started && !now)) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass(this.state!);
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async pass(state: RegistryState): Promise<void> {
    const desired = listDefinitions(state, 'connector').map((t) => t.definition as ConnectorDefinition);
    const names = new Set(desired.map((c) => c.name));
    for (const connector of desired) {
      const entry: ReconciledConnector = {
        name: connector.name,
        worker: connector.worker,
        desiredState: connector.state,
        ...(this.seen.get(connector.name)?.status && { status: this.seen.get(connector.name)!.status! }),
      };
      try {
        entry.status = await this.reconcileOne(connector);
        entry.checkedAt = Date.now();
      } catch (error) {
        // A worker may echo a value it refused: a resolved secret must not reach logs or /health.
        entry.error = this.workers.redact(error instanceof Error ? error.message : String(error), connector);
        this.log(`connector ${connector.name}: ${entry.error}`);
      }
      this.seen.set(connector.name, entry);
    }
    // Only connectors the registry once held and then deleted are removed: others on the worker are not featurelog's.
    for (const object of Object.values(state.objects)) {
      if (object.kind !== 'connector' || !object.deleted || names.has(object.name)) continue;
      const last = [...object.history].reverse().find((v) => v.definition !== undefined)?.definition as
        ConnectorDefinition | undefined;
      if (!last) continue;
      try {
        await this.workers.client(last.worker).delete(object.name);
        this.seen.delete(object.name);
      } catch (error) {
        this.log(`connector ${object.name} (deleted): ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  private async reconcileOne(connector: ConnectorDefinition): Promise<ConnectConnectorStatus | undefined> {
    const client = this.workers.client(connector.worker);
    const { config, missing } = resolveConnectorConfig(connector, this.workers.env);
    if (missing.length > 0) {
      throw new Error(
        `not sent to the worker: ${missing.map((m) => `environment variable ${m.variable} (config ${m.key})`).join(', ')} is not set in the reconciling process`,
      );
    }
    const held = await client.config(connector.name);
    if (held === undefined || canonicalJson(held) !== canonicalJson(config)) {
      await client.putConfig(connector.name, config);
      this.log(`connector ${connector.name}: config ${held === undefined ? 'created' : 'updated'} on ${client.url}`);
    }
    let status = await client.status(connector.name);
    if (connector.state === 'paused' && status?.state !== 'PAUSED') {
      await client.pause(connector.name);
      status = await client.status(connector.name);
    } else if (connector.state === 'running' && status?.state === 'PAUSED') {
      await client.resume(connector.name);
      status = await client.status(connector.name);
    }
    return status;
  }
}

/** One line per connector or task that is not well, for /health; empty when all are. */
export function connectorProblems(connectors: readonly ReconciledConnector[]): string[] {
  const out: string[] = [];
  for (const c of connectors) {
    if (c.error !== undefined) out.push(`connector ${c.name}: ${c.error}`);
    if (c.status?.state === 'FAILED') out.push(`connector ${c.name} FAILED: ${traceSummary(c.status.trace) ?? ''}`);
    for (const task of c.status?.tasks ?? []) {
      if (task.state === 'FAILED')
        out.push(`connector ${c.name} task ${task.id} FAILED: ${traceSummary(task.trace) ?? ''}`);
    }
  }
  return out;
}
