import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeaturelogError, initialRegistryState, type RegistryState } from '@featurelog/domain';
import { DLQ_HEADERS, FileEventLog, type EventLog, type LogRecord, type RecordBatch } from '@featurelog/log';
import { uniqueName, waitFor } from '@featurelog/testing';
import { RestartFromCheckpoint } from './consumer-runner';
import type { Projection, SpecChange, StreamContext, StreamRun, StreamSpec } from './projection';
import { ProjectionMetrics } from './projection-metrics';
import { ProjectionRuntime, type FollowedRegistry } from './projection-runtime';
import { Registry as MetricsRegistry } from 'prom-client';

const text = (value: string) => Buffer.from(value, 'utf8');

/**
 * The registry as the runtime sees it, driven by the test: which streams exist is the only thing a
 * projection reads from it here (the real RegistryFollower has its own tests).
 */
class Registry implements FollowedRegistry {
  state: RegistryState = initialRegistryState();
  /** Stream key → topics and fingerprint, as this registry "defines" them. */
  wanted = new Map<string, { topics: string[]; fingerprint: string }>();
  private readonly listeners = new Set<(state: RegistryState) => Promise<void>>();
  async catchUp(): Promise<void> {}
  onFolded(listener: (state: RegistryState) => Promise<void>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async change(edit: (wanted: Map<string, { topics: string[]; fingerprint: string }>) => void): Promise<void> {
    edit(this.wanted);
    for (const listener of this.listeners) await listener(this.state);
    await this.runtime?.settled();
  }
  /** Changes are applied by the runtime in the background: `change` waits for them. */
  runtime: ProjectionRuntime<string> | undefined;
}

interface Event {
  type: 'open' | 'close' | 'retired' | 'update';
  key: string;
  detail?: unknown;
}

/**
 * A projection that keeps, per stream, the values it was given in a "sink" whose checkpoint is its
 * next offset per partition, written with the values (as the online store does).
 */
class Collecting implements Projection<string> {
  readonly name = uniqueName('test.collector');
  readonly events: Event[] = [];
  readonly sink = new Map<string, { values: string[]; next: Map<string, number> }>();
  readonly contexts = new Map<string, StreamContext>();
  /** Values that make `handle` throw RestartFromCheckpoint, once each. */
  readonly crashOn = new Set<string>();
  /** Values that are poison: returned as such, dead-lettered by the runtime. */
  readonly poison = new Set<string>();
  /** Opens that fail (a sink down) before one succeeds. */
  failingOpens = 0;

  constructor(private readonly registry: Registry) {}

  streams(): Array<StreamSpec<string>> {
    return [...this.registry.wanted].map(([key, { topics, fingerprint }]) => ({ key, topics, fingerprint, unit: key }));
  }

  groupId(spec: StreamSpec<string>): string {
    return `${this.name}.${spec.key}`;
  }

  async open(spec: StreamSpec<string>, context: StreamContext): Promise<StreamRun<string>> {
    if (this.failingOpens > 0) {
      this.failingOpens--;
      throw new FeaturelogError('SINK_UNAVAILABLE', 'the sink is down', { retriable: true });
    }
    this.events.push({ type: 'open', key: spec.key });
    this.contexts.set(spec.key, context);
    let sink = this.sink.get(spec.key);
    if (sink === undefined) {
      sink = { values: [], next: new Map() };
      this.sink.set(spec.key, sink);
    }
    const stored = sink;
    const position = (topic: string, partition: number) => stored.next.get(`${topic}/${partition}`) ?? 0;
    return {
      startOffset: position,
      checkpoint: position,
      handle: async (batch: RecordBatch) => {
        const poisoned = [];
        for (const record of batch.records) {
          const value = record.value!.toString();
          if (this.crashOn.delete(value)) throw new RestartFromCheckpoint(new Error(`crash on ${value}`));
          if (this.poison.has(value)) {
            poisoned.push({ record, error: new FeaturelogError('BAD_VALUE', `${value} is poison`) });
            continue;
          }
          stored.values.push(value);
        }
        stored.next.set(`${batch.topic}/${batch.partition}`, batch.records.at(-1)!.offset + 1);
        return { poisoned };
      },
      update: async (change: SpecChange<string>) => {
        this.events.push({ type: 'update', key: spec.key, detail: { added: change.added, removed: change.removed } });
        for (const topic of change.removed) {
          for (const key of [...stored.next.keys()]) if (key.startsWith(`${topic}/`)) stored.next.delete(key);
        }
      },
      close: async ({ flush }) => {
        this.events.push({ type: 'close', key: spec.key, detail: { flush } });
      },
    };
  }

  async retired(spec: StreamSpec<string>): Promise<void> {
    this.events.push({ type: 'retired', key: spec.key });
  }
}

describe('ProjectionRuntime on the file log', () => {
  let directory: string;
  let log: EventLog;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'featurelog-projection-'));
    log = await FileEventLog.open({ directory });
  });
  after(async () => {
    await log.close();
    await rm(directory, { recursive: true, force: true });
  });

  async function setUp() {
    const registry = new Registry();
    const projection = new Collecting(registry);
    const dlq = uniqueName('demo.dlq');
    await log.ensureTopic({ name: dlq, partitions: 1, config: {} });
    const topic = async (name: string) => {
      const unique = uniqueName(`demo.features.${name}`);
      await log.ensureTopic({ name: unique, partitions: 2, config: {} });
      return unique;
    };
    const restarts: string[] = [];
    const runtime = new ProjectionRuntime(projection, {
      log,
      dlqTopic: dlq,
      follower: registry,
      registryPollMs: 0,
      restartDelayMs: 10,
      maxRestartDelayMs: 40,
      logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
      events: { restarting: ({ stream }) => restarts.push(stream) },
    });
    registry.runtime = runtime;
    return { registry, projection, runtime, dlq, topic, restarts };
  }

  const append = (topic: string, values: string[], key = 'k') =>
    log.append(
      topic,
      values.map((value) => ({ key: text(key), value: text(value) })),
    );

  async function dlqEntries(dlq: string): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    for await (const batch of log.read(dlq, 0, 0)) out.push(...batch);
    return out;
  }

  it('opens a stream per spec the registry asks for, and follows it as specs come, change and go', async () => {
    const { registry, projection, runtime, topic } = await setUp();
    const trips = await topic('trips');
    const drivers = await topic('drivers');
    registry.wanted.set('trips', { topics: [trips], fingerprint: 'v1' });
    await append(trips, ['t1', 't2']);
    await runtime.start();
    try {
      await waitFor(() => projection.sink.get('trips')?.values.length === 2 || undefined);

      await registry.change((wanted) => wanted.set('drivers', { topics: [drivers], fingerprint: 'v1' }));
      await append(drivers, ['d1']);
      await waitFor(() => projection.sink.get('drivers')?.values.length === 1 || undefined);
      assert.deepEqual(
        runtime.status().map((s) => [s.key, s.state]),
        [
          ['trips', 'running'],
          ['drivers', 'running'],
        ],
      );

      // A new fingerprint: the old run is closed with a flush, a new one resumes from the sink's checkpoint.
      await registry.change((wanted) => wanted.set('trips', { topics: [trips], fingerprint: 'v2' }));
      await append(trips, ['t3']);
      await waitFor(() => projection.sink.get('trips')?.values.length === 3 || undefined);
      assert.deepEqual(projection.sink.get('trips')!.values, ['t1', 't2', 't3']);
      const tripsEvents = projection.events.filter((e) => e.key === 'trips').map((e) => [e.type, e.detail]);
      assert.deepEqual(tripsEvents, [
        ['open', undefined],
        ['close', { flush: true }],
        ['open', undefined],
      ]);

      // Gone from the registry: stopped with a flush, then retired.
      await registry.change((wanted) => wanted.delete('drivers'));
      assert.deepEqual(
        projection.events.filter((e) => e.key === 'drivers').map((e) => e.type),
        ['open', 'close', 'retired'],
      );
      assert.deepEqual(
        runtime.status().map((s) => s.key),
        ['trips'],
      );
    } finally {
      await runtime.stop();
    }
  });

  it('adds and removes topics of a running stream without a restart, and restarts for a topic read again', async () => {
    const { registry, projection, runtime, topic } = await setUp();
    const a = await topic('a');
    const b = await topic('b');
    registry.wanted.set('online', { topics: [a], fingerprint: 'online' });
    await runtime.start();
    try {
      await registry.change((wanted) => wanted.set('online', { topics: [a, b], fingerprint: 'online' }));
      await append(b, ['b1']);
      await waitFor(() => projection.sink.get('online')?.values.includes('b1') || undefined);
      await registry.change((wanted) => wanted.set('online', { topics: [a], fingerprint: 'online' }));
      assert.deepEqual(
        projection.events.map((e) => [e.type, e.detail]),
        [
          ['open', undefined],
          ['update', { added: [b], removed: [] }],
          ['update', { added: [], removed: [b] }],
        ],
      );
      // b again: this subscription has seeded b's offsets once already, so the stream starts over.
      await registry.change((wanted) => wanted.set('online', { topics: [a, b], fingerprint: 'online' }));
      assert.deepEqual(
        projection.events.slice(3).map((e) => [e.type, e.detail]),
        [
          ['update', { added: [], removed: [] }],
          ['close', { flush: true }],
          ['open', undefined],
        ],
      );
      // The update reset b's checkpoint, so b1 is read again from the start of b.
      await waitFor(() => projection.sink.get('online')!.values.filter((v) => v === 'b1').length === 2 || undefined);
    } finally {
      await runtime.stop();
    }
  });

  it('starts a failed run again from its checkpoint, after a pause, and says so in its status', async () => {
    const { registry, projection, runtime, topic, restarts } = await setUp();
    const trips = await topic('trips');
    registry.wanted.set('trips', { topics: [trips], fingerprint: 'v1' });
    projection.crashOn.add('t2');
    await append(trips, ['t1']);
    await runtime.start();
    try {
      await waitFor(() => projection.sink.get('trips')?.values.length === 1 || undefined);
      await append(trips, ['t2', 't3']);
      await waitFor(() => projection.sink.get('trips')?.values.length === 3 || undefined);
      // t1 was checkpointed before the crash and is never applied twice; t2 is applied after the restart.
      assert.deepEqual(projection.sink.get('trips')!.values, ['t1', 't2', 't3']);
      assert.deepEqual(restarts, ['trips']);
      await waitFor(() => runtime.status()[0]!.state === 'running' || undefined);
      assert.equal(runtime.status()[0]!.restarts, 1);
      assert.deepEqual(
        projection.events.map((e) => [e.type, e.detail]),
        [
          ['open', undefined],
          ['close', { flush: false }],
          ['open', undefined],
        ],
      );
    } finally {
      await runtime.stop();
    }
  });

  it('retries an open that fails, and reports the stream as not running meanwhile', async () => {
    const { registry, projection, runtime, topic } = await setUp();
    registry.wanted.set('trips', { topics: [await topic('trips')], fingerprint: 'v1' });
    projection.failingOpens = 2;
    await runtime.start();
    try {
      assert.throws(
        () => runtime.assertRunning('TEST_NOT_RUNNING', 'the test projection'),
        (error: unknown) =>
          error instanceof FeaturelogError &&
          error.code === 'TEST_NOT_RUNNING' &&
          error.retriable &&
          /trips: SINK_UNAVAILABLE: the sink is down/.test(error.message),
      );
      await waitFor(() => runtime.status()[0]!.state === 'running' || undefined);
      runtime.assertRunning('TEST_NOT_RUNNING', 'the test projection');
      assert.equal(runtime.status()[0]!.restarts, 2);
    } finally {
      await runtime.stop();
    }
  });

  it('dead-letters a poison record once under the projection name, and moves on', async () => {
    const { registry, projection, runtime, topic, dlq } = await setUp();
    const trips = await topic('trips');
    registry.wanted.set('trips', { topics: [trips], fingerprint: 'v1' });
    projection.poison.add('bad');
    await append(trips, ['t1', 'bad', 't2']);
    await runtime.start();
    try {
      await waitFor(() => projection.sink.get('trips')?.values.length === 2 || undefined);
      // The runtime dead-letters the batch's poison once the handler is done with it.
      const [bad] = await waitFor(async () => {
        const entries = await dlqEntries(dlq);
        return entries.length > 0 ? (entries as [LogRecord, ...LogRecord[]]) : undefined;
      });
      const context = projection.contexts.get('trips')!;
      // Sent again (a redelivery after a crash would do that): the DLQ already has it from this projection.
      await context.deadLetter([
        {
          record: {
            topic: trips,
            partition: Number(bad.headers[DLQ_HEADERS.sourcePartition]!.toString()),
            offset: Number(bad.headers[DLQ_HEADERS.sourceOffset]!.toString()),
            key: text('k'),
            value: text('bad'),
            headers: {},
            timestamp: Date.now(),
          },
          error: new FeaturelogError('BAD_VALUE', 'bad is poison'),
        },
      ]);
      const entries = await dlqEntries(dlq);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.value!.toString(), 'bad');
      assert.equal(entries[0]!.headers[DLQ_HEADERS.consumer]!.toString(), projection.name);
      assert.equal(entries[0]!.headers[DLQ_HEADERS.errorCode]!.toString(), 'BAD_VALUE');
    } finally {
      await runtime.stop();
    }
  });

  it('ignores a failure reported by a run that has already ended', async () => {
    const { registry, projection, runtime, topic, restarts } = await setUp();
    const trips = await topic('trips');
    registry.wanted.set('trips', { topics: [trips], fingerprint: 'v1' });
    await runtime.start();
    try {
      const first = projection.contexts.get('trips')!;
      first.fail(new Error('state lost'));
      await waitFor(() => (projection.events.filter((e) => e.type === 'open').length === 2 ? true : undefined));
      first.fail(new Error('late report of the old run'));
      await runtime.settled();
      assert.deepEqual(restarts, ['trips']);
      assert.equal(runtime.status()[0]!.state, 'running');
    } finally {
      await runtime.stop();
    }
  });

  it('measures lag as the end offset minus the checkpoint in the sink', async () => {
    const { registry, projection, runtime, topic } = await setUp();
    const trips = await topic('trips');
    registry.wanted.set('trips', { topics: [trips], fingerprint: 'v1' });
    projection.failingOpens = 1_000; // never opens: nothing consumed, no lag reported for it
    await append(trips, ['t1', 't2', 't3'], 'same-key');
    await runtime.start();
    assert.deepEqual(await runtime.lag(), []);
    await runtime.stop();

    const ok = await setUp();
    ok.registry.wanted.set('trips', { topics: [trips], fingerprint: 'v1' });
    await ok.runtime.start();
    try {
      await waitFor(() => ok.projection.sink.get('trips')?.values.length === 3 || undefined);
      const lag = await ok.runtime.lag();
      assert.deepEqual(
        lag.map((p) => [p.stream, p.lag]),
        [
          ['trips', 0],
          ['trips', 0],
        ],
      );
    } finally {
      await ok.runtime.stop();
    }
  });

  it('counts restarts, retries and dead letters, and reports streams by state and lag, per projection', async () => {
    const { registry, projection, runtime, topic } = await setUp();
    const other = await setUp();
    const metrics = new MetricsRegistry();
    // Two projections of one process share the families.
    new ProjectionMetrics(metrics).attach(runtime);
    new ProjectionMetrics(metrics).attach(other.runtime);
    const trips = await topic('trips');
    registry.wanted.set('trips', { topics: [trips], fingerprint: 'v1' });
    projection.poison.add('bad');
    projection.crashOn.add('t2');
    await append(trips, ['t1', 'bad', 't2'], 'one-key');
    await runtime.start();
    await other.runtime.start();
    try {
      // The crash comes before the batch is checkpointed: t1 is applied again by the next run.
      await waitFor(() => projection.sink.get('trips')?.values.includes('t2') || undefined);
      const name = projection.name;
      const text = await waitFor(async () => {
        const scraped = await metrics.metrics();
        return scraped.includes(`featurelog_projection_dead_letters_total{projection="${name}"`) ? scraped : undefined;
      });
      assert.match(text, new RegExp(`featurelog_projection_restarts_total\\{projection="${name}",stream="trips"\\} 1`));
      assert.match(
        text,
        new RegExp(
          `featurelog_projection_dead_letters_total\\{projection="${name}",topic="${trips}",code="BAD_VALUE"\\} 1`,
        ),
      );
      assert.match(text, new RegExp(`featurelog_projection_streams\\{projection="${name}",state="running"\\} 1`));
      assert.match(
        text,
        new RegExp(`featurelog_projection_streams\\{projection="${other.projection.name}",state="running"\\} 0`),
      );
      assert.match(
        text,
        new RegExp(
          `featurelog_projection_lag_records\\{projection="${name}",stream="trips",topic="${trips}",partition="\\d"\\} 0`,
        ),
      );
    } finally {
      await runtime.stop();
      await other.runtime.stop();
    }
  });
});
