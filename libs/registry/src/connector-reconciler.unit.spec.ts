import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import {
  evolveRegistry,
  initialRegistryState,
  planChanges,
  planToChangeset,
  type ConnectorDefinition,
  type RegistryState,
  type TaggedDefinition,
} from '@featurelog/domain';
import { waitFor } from '@featurelog/testing';
import { ConnectorReconciler } from './connector-reconciler';
import { ConnectWorkers } from './connect-workers';

/**
 * A stand-in for a Connect worker's REST API, small enough to make it answer 409 (rebalancing) on
 * demand; the real worker is exercised by apps/cli connector.commands.int.spec.ts.
 */
class FakeConnectWorker {
  readonly connectors = new Map<string, { config: Record<string, string>; state: string }>();
  readonly requests: string[] = [];
  rebalancingFor = 0;
  private server: Server | undefined;

  async listen(port = 0): Promise<number> {
    this.server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const reply = (status: number, value?: unknown) =>
          response
            .writeHead(status, { 'content-type': 'application/json' })
            .end(value === undefined ? '' : JSON.stringify(value));
        this.requests.push(`${request.method} ${request.url}`);
        if (request.method !== 'GET' && this.rebalancingFor > 0) {
          this.rebalancingFor--;
          return reply(409, { error_code: 409, message: 'Cannot complete request momentarily due to rebalance' });
        }
        const [, , name, action] = (request.url ?? '').split('/');
        const held = name === undefined ? undefined : this.connectors.get(name);
        if (request.method === 'PUT' && action === 'config') {
          this.connectors.set(name!, {
            config: JSON.parse(body) as Record<string, string>,
            state: held?.state ?? 'RUNNING',
          });
          return reply(held ? 200 : 201, {});
        }
        if (!held) return reply(404, { error_code: 404, message: `Connector ${name} not found` });
        if (request.method === 'GET' && action === 'config') return reply(200, held.config);
        if (request.method === 'GET' && action === 'status') {
          return reply(200, { name, connector: { state: held.state }, tasks: [{ id: 0, state: held.state }] });
        }
        if (request.method === 'PUT' && action === 'pause') return ((held.state = 'PAUSED'), reply(202));
        if (request.method === 'PUT' && action === 'resume') return ((held.state = 'RUNNING'), reply(202));
        if (request.method === 'DELETE') return (this.connectors.delete(name!), reply(204));
        return reply(404, { message: 'no route' });
      });
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.close();
    this.server.closeAllConnections();
    await once(this.server, 'close');
    this.server = undefined;
  }
}

const connector = (overrides: Partial<ConnectorDefinition> = {}): TaggedDefinition => ({
  kind: 'connector',
  definition: {
    name: 'orders_cdc',
    worker: 'default',
    connectorClass: 'FileStreamSource',
    config: { file: '/tmp/in.txt', topic: 'lines', 'x.password': '${FAKE_SECRET}' },
    state: 'running',
    ...overrides,
  },
});

function applied(state: RegistryState, desired: TaggedDefinition[]): RegistryState {
  const plan = planChanges(desired, state, { prune: true });
  return evolveRegistry(state, planToChangeset(plan, { applyId: `a${state.version}`, appliedAt: 1 }), state.version);
}

describe('ConnectorReconciler', () => {
  const workers: FakeConnectWorker[] = [];
  const reconcilers: ConnectorReconciler[] = [];
  after(async () => {
    for (const r of reconcilers) await r.stop();
    for (const w of workers) await w.close();
  });

  async function setup(port?: number) {
    const worker = new FakeConnectWorker();
    workers.push(worker);
    const listening = await worker.listen(port);
    const reconciler = new ConnectorReconciler(
      new ConnectWorkers(
        { default: { url: `http://127.0.0.1:${listening}` } },
        { attempts: 4, retryDelayMs: 5 },
        { FAKE_SECRET: 'shh' },
      ),
      { intervalMs: 50 },
    );
    reconcilers.push(reconciler);
    return { worker, reconciler, port: listening };
  }

  it('creates, leaves an unchanged connector alone, pauses, resumes and deletes, through 409s', async () => {
    const { worker, reconciler } = await setup();
    worker.rebalancingFor = 2;
    let state = applied(initialRegistryState(), [connector()]);
    reconciler.update(state);
    await reconciler.reconcileNow();
    assert.deepEqual(worker.connectors.get('orders_cdc')?.config, {
      file: '/tmp/in.txt',
      topic: 'lines',
      'x.password': 'shh',
      'connector.class': 'FileStreamSource',
      name: 'orders_cdc',
    });
    assert.equal(
      worker.requests.filter((r) => r === 'PUT /connectors/orders_cdc/config').length,
      3,
      'two 409s, then the PUT',
    );

    await reconciler.reconcileNow();
    assert.equal(
      worker.requests.filter((r) => r.startsWith('PUT')).length,
      3,
      'an unchanged connector is not PUT again',
    );

    state = applied(state, [connector({ state: 'paused' })]);
    reconciler.update(state);
    await reconciler.reconcileNow();
    assert.equal(worker.connectors.get('orders_cdc')?.state, 'PAUSED');
    assert.equal(reconciler.connectors()[0]?.status?.state, 'PAUSED');

    state = applied(state, [connector()]);
    reconciler.update(state);
    await reconciler.reconcileNow();
    assert.equal(worker.connectors.get('orders_cdc')?.state, 'RUNNING');

    state = applied(state, []);
    reconciler.update(state);
    await reconciler.reconcileNow();
    assert.equal(worker.connectors.has('orders_cdc'), false);
    assert.deepEqual(reconciler.connectors(), []);
  });

  it('sends nothing before it is started: the states of a cold start’s fold never reach a worker', async () => {
    const { worker, reconciler } = await setup();
    reconciler.update(applied(initialRegistryState(), [connector()]));
    // stop() waits for a pass in progress: had update started one, its requests would be recorded by now.
    await reconciler.stop();
    assert.deepEqual(worker.requests, []);
    reconciler.start();
    reconciler.update(applied(initialRegistryState(), [connector()]));
    await reconciler.reconcileNow();
    assert.ok(worker.connectors.has('orders_cdc'));
  });

  it('reports a worker that is down, and catches up when it returns', async () => {
    const { worker, reconciler, port } = await setup();
    await worker.close();
    reconciler.start();
    reconciler.update(applied(initialRegistryState(), [connector()]));
    await waitFor(() => reconciler.connectors()[0]?.error?.includes('does not answer'), {
      description: 'the outage reported',
    });
    await worker.listen(port);
    await waitFor(() => worker.connectors.has('orders_cdc'), {
      description: 'the connector created once the worker returns',
    });
    await waitFor(
      () => reconciler.connectors()[0]?.error === undefined && reconciler.connectors()[0]?.status?.state === 'RUNNING',
      {
        description: 'the status read again',
      },
    );
  });

  it('never sends a config whose secret variable is unset, and says which', async () => {
    const worker = new FakeConnectWorker();
    workers.push(worker);
    const port = await worker.listen();
    const reconciler = new ConnectorReconciler(
      new ConnectWorkers({ default: { url: `http://127.0.0.1:${port}` } }, {}, {}),
    );
    reconcilers.push(reconciler);
    reconciler.update(applied(initialRegistryState(), [connector()]));
    await reconciler.reconcileNow();
    assert.equal(worker.connectors.size, 0);
    assert.match(
      reconciler.connectors()[0]!.error!,
      /environment variable FAKE_SECRET \(config x\.password\) is not set/,
    );
  });
});
