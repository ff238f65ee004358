import {
  canonicalJson,
  FeaturelogError,
  resolveConnectorConfig,
  type ConnectorDefinition,
  type ConnectorRefusal,
  type Plan,
} from '@featurelog/domain';
import { ConnectClient, type ConnectClientOptions } from './connect-client';

/**
 * The Connect workers of featurelog.yaml, by name. Plan and apply ask them to validate connector
 * configs; the reconciler keeps connectors on them; the CLI reads their status.
 */
export class ConnectWorkers {
  private readonly clients = new Map<string, ConnectClient>();

  constructor(
    workers: Readonly<Record<string, { url: string }>>,
    options: ConnectClientOptions = {},
    /** Where `${VAR}` references are resolved. */
    readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    for (const [name, { url }] of Object.entries(workers)) this.clients.set(name, new ConnectClient(url, options));
  }

  get names(): string[] {
    return [...this.clients.keys()];
  }

  /** Throws CONNECT_WORKER_UNKNOWN naming the workers featurelog.yaml declares. */
  client(worker: string): ConnectClient {
    const client = this.clients.get(worker);
    if (!client) {
      const known = this.names;
      throw new FeaturelogError(
        'CONNECT_WORKER_UNKNOWN',
        known.length === 0
          ? `connectors need a Kafka Connect worker, and featurelog.yaml names none: add connect: { url: http://host:8083 }`
          : `Connect worker "${worker}" is not in featurelog.yaml (connect.workers has ${known.join(', ')})`,
      );
    }
    return client;
  }

  /**
   * Asks each connector's worker to validate its config, as it would be sent (secrets resolved where
   * this process has them; a reference left unresolved is validated as written). Returns the configs
   * the workers refused, with their messages. Throws CONNECT_UNAVAILABLE when a worker does not answer,
   * CONNECT_WORKER_UNKNOWN for a worker featurelog.yaml does not name.
   */
  async validate(connectors: readonly ConnectorDefinition[]): Promise<ConnectorRefusal[]> {
    const refusals: ConnectorRefusal[] = [];
    for (const connector of connectors) {
      const client = this.client(connector.worker);
      const { config } = resolveConnectorConfig(connector, this.env);
      let errors;
      try {
        errors = await client.validate(connector.connectorClass, config);
      } catch (error) {
        // An unknown class is answered with 404/500 and a message naming it: a refusal, not an outage.
        if (error instanceof FeaturelogError && error.code === 'CONNECT_REQUEST_FAILED') {
          errors = [{ field: 'connector.class', messages: [error.message] }];
        } else throw error;
      }
      if (errors.length > 0) {
        refusals.push({
          name: connector.name,
          worker: connector.worker,
          connectorClass: connector.connectorClass,
          // The worker may echo a value it refused: never let a resolved secret back into a message.
          errors: errors.map((e) => ({ field: e.field, messages: e.messages.map((m) => this.redact(m, connector)) })),
        });
      }
    }
    return refusals;
  }

  /**
   * What plan and apply check before a connector change: every worker a connector item touches
   * answers (so apply never records a change no worker can carry out), and every new or changed
   * config is accepted by its worker.
   */
  async check(plan: Plan): Promise<ConnectorRefusal[]> {
    const items = plan.items.filter((item) => item.kind === 'connector' && item.willApply);
    if (items.length === 0) return [];
    const workers = new Set(items.map((item) => ((item.after ?? item.before) as ConnectorDefinition).worker));
    for (const worker of workers) await this.client(worker).ping();
    // A change of state or metadata alone needs no validation of the config.
    const changed = items.flatMap((item) => {
      if (item.action === 'delete') return [];
      const after = item.after as ConnectorDefinition;
      const before = item.before as ConnectorDefinition | undefined;
      const configChanged =
        before === undefined ||
        before.connectorClass !== after.connectorClass ||
        canonicalJson(before.config) !== canonicalJson(after.config);
      return configChanged ? [after] : [];
    });
    return this.validate(changed);
  }

  /** The message with every resolved secret of the connector put back as its reference. */
  redact(message: string, connector: Pick<ConnectorDefinition, 'config'>): string {
    let out = message;
    for (const value of Object.values(connector.config)) {
      for (const match of value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
        const secret = this.env[match[1]!];
        if (secret) out = out.split(secret).join(match[0]);
      }
    }
    return out;
  }
}
