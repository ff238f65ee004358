import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compareRowVersions, encodeEntityKey, type RowVersion } from '@featurelog/domain';
import type { FeatureRow } from '@featurelog/avro';
import type { OnlineStore } from '@featurelog/online-store';
import { seededRandom, waitFor } from '@featurelog/testing';
import {
  baseDefinitions,
  driver,
  MaterializerProcess,
  openTestProject,
  statsView,
  storedValues,
  type FoldedValue,
  type TestProject,
} from './materializer.test-kit';

/**
 * Several materializer processes (the real app) in one consumer group over a 6-partition topic, while
 * rows stream in: members join, leave gracefully, are killed, are frozen and come back as zombies.
 * Whatever happens, the online store ends equal to the fold of what was produced, and the stored
 * checkpoint never moves backwards. Replay a failure with FEATURELOG_TEST_SEED=<the seed it prints>.
 */

const VIEW = 'driver_stats';
const PARTITIONS = 6;
const ENTITIES = 2_000;
/** Short, so that a killed or frozen member's partitions move to the others within seconds. */
const KAFKA = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 };
const base = Date.now() * 1_000;

/**
 * Rows streaming in, with what they must end as: the greatest version per entity by compareRowVersions,
 * computed from the rows as produced and the positions the log gave them.
 */
class Workload {
  readonly expected = new Map<string, FoldedValue>();
  produced = 0;
  private readonly history: FeatureRow[] = [];
  private producing: Promise<void> | undefined;
  private stopped = false;
  private readonly random: () => number;

  constructor(
    private readonly test: TestProject,
    readonly seed: number,
  ) {
    this.random = seededRandom(seed);
  }

  /** Appends batches until stop(), paced so that the rows keep streaming while members come and go. */
  start(): void {
    this.producing = (async () => {
      while (!this.stopped) {
        await this.produce(120);
        await new Promise((done) => setTimeout(done, 80));
      }
    })();
  }

  get done(): boolean {
    return this.stopped;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.producing;
  }

  private async produce(count: number): Promise<void> {
    const rows = Array.from({ length: count }, () => this.row());
    const positions = await this.test.produce(VIEW, rows);
    rows.forEach((row, i) => {
      const version: RowVersion = {
        eventTimestamp: row.event_timestamp as number,
        createdTimestamp: (row.created_timestamp as number | null) ?? null,
        position: positions[i]!,
      };
      const key = encodeEntityKey(driver.joinKeys, row);
      const current = this.expected.get(key);
      if (current !== undefined && compareRowVersions(version, current.version) <= 0) return;
      this.expected.set(key, {
        version,
        features: { conv_rate: row.conv_rate ?? null, trips: row.trips ?? null, city: row.city ?? null },
      });
    });
    this.produced += count;
  }

  /** Event and created times out of order on purpose; one row in ten repeats an earlier one exactly. */
  private row(): FeatureRow {
    const next = this.random;
    if (this.history.length > 0 && next() < 0.1) return this.history[Math.floor(next() * this.history.length)]!;
    const trips = Math.floor(next() * 1_000_000);
    const row: FeatureRow = {
      driver_id: Math.floor(next() * ENTITIES),
      event_timestamp: base + Math.floor(next() * 300) * 1_000,
      created_timestamp: next() < 0.3 ? null : base + Math.floor(next() * 4),
      conv_rate: trips / 7,
      trips,
      city: `c${trips % 97}`,
    };
    if (this.history.length < 5_000) this.history.push(row);
    else this.history[Math.floor(next() * this.history.length)] = row;
    return row;
  }
}

/** Samples the stored checkpoint as fast as Redis answers, and records every offset that moved back. */
class CheckpointWatch {
  readonly highest = new Map<number, number>();
  readonly backwards: string[] = [];
  samples = 0;
  private stopped = false;
  private readonly sampling: Promise<void>;

  constructor(
    private readonly store: OnlineStore,
    private readonly consumer: string,
    private readonly topic: string,
  ) {
    this.sampling = (async () => {
      while (!this.stopped) {
        await this.sample();
        await new Promise((done) => setImmediate(done));
      }
    })();
  }

  async sample(): Promise<Map<number, number>> {
    const now = new Map<number, number>();
    for (const { topic, partition, nextOffset } of await this.store.readCheckpoint(this.consumer)) {
      if (topic !== this.topic) continue;
      now.set(partition, nextOffset);
      const highest = this.highest.get(partition) ?? 0;
      if (nextOffset < highest) this.backwards.push(`partition ${partition}: ${highest} → ${nextOffset}`);
      else this.highest.set(partition, nextOffset);
    }
    this.samples++;
    return now;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sampling;
  }
}

/** With FEATURELOG_TEST_VERBOSE: when each step of a scenario ended, from its start. */
function stepClock(): (step: string) => void {
  const started = Date.now();
  return (step) => {
    if (process.env.FEATURELOG_TEST_VERBOSE) process.stderr.write(`${Date.now() - started} ms: ${step}\n`);
  };
}

/** The seed of this run: FEATURELOG_TEST_SEED replays one. */
function runSeed(): number {
  const given = process.env.FEATURELOG_TEST_SEED;
  return given === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(given);
}

/** Runs `body`; a failure says the seed that replays it, and the processes' last words. */
async function withSeed(seed: number, processes: MaterializerProcess[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const last = processes.map((member, i) => `--- materializer ${i + 1}:\n${member.lastOutput}`).join('\n');
    throw new Error(`[replay: FEATURELOG_TEST_SEED=${seed}] ${message}\n${last}`, { cause: error });
  }
}

/** rows_total of one process' /metrics: rows it judged (won or lost), over all views. */
async function rowsJudged(process: MaterializerProcess): Promise<number> {
  const text = await process.metrics();
  let total = 0;
  for (const match of text.matchAll(
    /^featurelog_materializer_rows_total\{[^}]*outcome="(?:won|lost)"[^}]*\} (\S+)$/gm,
  )) {
    total += Number(match[1]);
  }
  return total;
}

/** The lag gauge of one process' /metrics, per partition of the view's topic. */
async function reportedLag(member: MaterializerProcess, topic: string): Promise<number[]> {
  const text = await member.metrics();
  const lines = [...text.matchAll(/^featurelog_materializer_lag_records\{([^}]*)\} (\S+)$/gm)];
  return lines.filter((match) => match[1]!.includes(`topic="${topic}"`)).map((match) => Number(match[2]));
}

interface Scenario {
  test: TestProject;
  store: OnlineStore;
  topic: string;
  consumer: string;
}

async function openScenario(): Promise<Scenario> {
  const test = await openTestProject('stack', KAFKA);
  await test.apply(baseDefinitions(statsView({ partitions: PARTITIONS })));
  return {
    test,
    store: await test.store(),
    topic: test.topic(VIEW),
    consumer: `${test.project}.materializer`,
  };
}

/**
 * Waits until every partition's stored checkpoint reached the end offsets the log has once the next
 * batch is produced (it has rows on every partition): all of it consumed, whoever owned what.
 */
async function consumedToNow(
  { test, topic }: Scenario,
  workload: Workload,
  watch: CheckpointWatch,
  what: string,
  timeoutMs = 60_000,
) {
  const produced = workload.produced;
  if (!workload.done) {
    await waitFor(() => workload.produced > produced, { description: 'the next batch', timeoutMs: 10_000 });
  }
  const ends = await test.runtime.log.endOffsets(topic);
  await waitFor(
    async () => {
      const stored = await watch.sample();
      const behind = [...ends].filter(([partition, end]) => (stored.get(partition) ?? 0) < end);
      if (behind.length === 0) return true;
      throw new Error(`behind: ${behind.map(([p, end]) => `${p}: ${stored.get(p) ?? 0} < ${end}`).join(', ')}`);
    },
    { description: what, timeoutMs, intervalMs: 100 },
  );
}

/** The end state: every partition consumed to its end, every entity's stored value the fold's, no offset went back. */
async function assertEndState(scenario: Scenario, workload: Workload, watch: CheckpointWatch): Promise<void> {
  await consumedToNow(scenario, workload, watch, 'every row produced to be materialized');
  const { store, test } = scenario;
  const stored = await storedValues(store, test.project, VIEW, workload.expected.keys());
  const wrong = [...workload.expected].filter(([key, value]) => {
    try {
      assert.deepEqual(stored.get(key), value);
      return false;
    } catch {
      return true;
    }
  });
  assert.equal(
    wrong.length,
    0,
    `${wrong.length} of ${workload.expected.size} entities differ from the fold, e.g. ${JSON.stringify(
      wrong.slice(0, 2).map(([key, value]) => ({ key, expected: value, stored: stored.get(key) ?? null })),
    )}`,
  );
  assert.equal(stored.size, workload.expected.size);
  await watch.stop();
  assert.deepEqual(watch.backwards, [], `no checkpoint offset moved backwards (${watch.samples} samples)`);
  assert.ok(workload.expected.size > ENTITIES / 2, `many entities (${workload.expected.size})`);
}

/**
 * One group, one stream of rows, steps in order (each builds on the one before, as in production):
 * 1 → 3 members, a frozen member coming back as a zombie, a kill -9, back to 3, then 3 → 1 gracefully.
 */
describe('materializer scale-out: app processes join, freeze, crash and leave one group while rows stream in', () => {
  const seed = runSeed();
  const step = stepClock();
  let scenario: Scenario;
  let workload: Workload;
  let watch: CheckpointWatch;
  const processes: MaterializerProcess[] = [];
  let first: MaterializerProcess;
  let second: MaterializerProcess;
  let third: MaterializerProcess;
  /** Each step says the seed that replays the run when it fails, and the processes' last words. */
  const seeded = (body: () => Promise<void>) => () => withSeed(seed, processes, body);

  before(async () => {
    scenario = await openScenario();
    for (let i = 0; i < 3; i++) processes.push(new MaterializerProcess(scenario.test.repoDir));
    [first, second, third] = processes as [MaterializerProcess, MaterializerProcess, MaterializerProcess];
    workload = new Workload(scenario.test, seed);
    watch = new CheckpointWatch(scenario.store, scenario.consumer, scenario.topic);
    step('project ready');
  });

  after(async () => {
    await workload?.stop();
    await watch?.stop();
    await Promise.all(processes.map((member) => member.stop()));
    await scenario?.test.close();
  });

  it(
    'scales 1 → 3: the newcomers get partitions and write, and the first keeps writing its share',
    seeded(async () => {
      await first.start();
      step('first process listening');
      workload.start();
      await waitFor(async () => (await rowsJudged(first)) > 0, {
        description: 'the first process to write',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      await Promise.all([second.start(), third.start()]);
      step('two more listening');
      await waitFor(async () => (await rowsJudged(second)) > 0 && (await rowsJudged(third)) > 0, {
        description: 'both newcomers to get partitions and write',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      const firstBefore = await rowsJudged(first);
      await waitFor(async () => (await rowsJudged(first)) > firstBefore, {
        description: 'the first process to keep writing its share',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
    }),
  );

  it(
    'a frozen member (SIGSTOP) whose partitions moved on comes back (SIGCONT) and writes as a zombie',
    seeded(async () => {
      // Frozen mid-work, a batch fetched or being written, its partitions still its own for the group
      // until its session times out.
      const zombie = third;
      zombie.pause();
      step('paused one');
      try {
        await consumedToNow(
          scenario,
          workload,
          watch,
          "the frozen process' partitions to move to the others and advance",
        );
        step('its partitions moved on');
      } finally {
        // Back: whatever it held in flight is written now, after the others got further. The checkpoint
        // watch and the end state (last step) judge what it did.
        zombie.resume();
      }
      const zombieBefore = await rowsJudged(zombie);
      await waitFor(async () => (await rowsJudged(zombie)) > zombieBefore, {
        description: 'the zombie to write again (its old batch, or partitions it got back)',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      step('the zombie wrote again');
    }),
  );

  it(
    'kill -9 of a member while rows stream in: its partitions are taken over',
    seeded(async () => {
      await second.kill9();
      await consumedToNow(scenario, workload, watch, "the killed process' partitions to be taken over");
      step('killed one, its partitions taken over');
      // Each member's lag gauge covers every partition, those another member consumes included: it
      // follows the group's progress (a few hundred rows behind at most at this pace), never the offset
      // the member itself last wrote or read, which is tens of seconds old by now for some partitions.
      await waitFor(
        async () => {
          const lags = await Promise.all([first, third].map((member) => reportedLag(member, scenario.topic)));
          if (lags.every((lag) => lag.length === PARTITIONS && Math.max(...lag) < 1_000)) return true;
          throw new Error(`lag per process: ${JSON.stringify(lags)}`);
        },
        {
          description: 'each member to report the lag of every partition as it is',
          timeoutMs: 20_000,
          intervalMs: 200,
        },
      );
      step('each member reports the lag as it is');
    }),
  );

  it(
    'back to 3, then 3 → 1 gracefully (SIGTERM): the last member takes every partition over',
    seeded(async () => {
      await second.start();
      step('restarted it');
      await waitFor(async () => (await rowsJudged(second)) > 0, {
        description: 'the restarted process to get partitions and write',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      await Promise.all([second.stop(), third.stop()]);
      step('stopped two');
      await consumedToNow(scenario, workload, watch, 'the first process to take every partition over');
      step('the first took every partition over');
    }),
  );

  it(
    'ends with the store equal to the fold of what was produced, and no checkpoint offset ever moved back',
    seeded(async () => {
      await workload.stop();
      step('production stopped');
      assert.ok(first.running, 'the first process ran throughout');
      await assertEndState(scenario, workload, watch);
      step('end state checked');
      if (process.env.FEATURELOG_TEST_VERBOSE) {
        process.stderr.write(`seed ${seed}: ${workload.produced} rows, ${watch.samples} checkpoint samples\n`);
      }
    }),
  );
});
