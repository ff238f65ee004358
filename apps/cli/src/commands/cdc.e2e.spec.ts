/**
 * PostgreSQL → Debezium → Connect → Kafka → featurelog, end to end with the real parts: a table with a
 * text and an integer key, nulls, a numeric with scale and a timestamptz gets seeded random inserts,
 * updates and deletes (the seed is printed; FEATURELOG_CDC_SEED replays one); the test keeps its own
 * model of every commit, reads each commit's time (source.ts_ms) back from the topic, and checks
 * `featurelog dev` on Kafka + Apicurio + Redis against it: online, row for row with the table's final
 * state (deleted rows NOT_FOUND), and in a training set at instants between commits (deleted → nulls).
 */
import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { ConfluentSchemaRegistry, RowDecoder, decodeEnvelope, readerSchema } from '@featurelog/avro';
import { JsonHttpClient, type DevServerRecord } from '@featurelog/runtime';
import { seededRandom, stackEnv, stackPostgresEnv, uniqueName, waitFor } from '@featurelog/testing';
import { PLAN_HAS_CHANGES_EXIT_CODE } from '../exit-codes';
import { readParquetRows, runCli, startDev, type RunningDev } from '../../../../tools/quickstart/demo';
import {
  JSON_CONVERTERS,
  avroConverters,
  dropCapture,
  killConnect,
  restartConnect,
  literal,
  newCapture,
  readTopic,
  sql,
  startCapture,
  type Capture,
} from '../../../../tools/stack/cdc.test-kit';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

const REGIONS = ['eu', 'us-east', "o'hare"];
const ACCOUNT_IDS = [1, 2, 3, 7, 42, -5, 2147483647];
const PLANS = ['free', 'pro', 'team', 'enterprise — annual'];
const VIEW = 'accounts';
/** Feature → the table's column; plan is mapped to another name through the data source's field_mapping. */
const FEATURES = ['plan_name', 'balance', 'seats', 'renewed_at'] as const;
type Feature = (typeof FEATURES)[number];

interface Row {
  plan_name: string | null;
  /** numeric(12,3) as PostgreSQL writes it: its scale's digits always. */
  balance: string | null;
  seats: number | null;
  /** timestamptz as RFC 3339 UTC with milliseconds, as featurelog serves timestamps. */
  renewed_at: string | null;
}
type Key = { region: string; account_id: number };
type State = Map<string, Row>;

const keyOf = (key: Key) => `${key.region}|${key.account_id}`;
const KEYS: Key[] = REGIONS.flatMap((region) => ACCOUNT_IDS.map((account_id) => ({ region, account_id })));

/** Random rows and changes of the test's table, the SQL for them, and the table's state after each. */
class Workload {
  constructor(readonly random: () => number) {}

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private nullable<T>(make: () => T): T | null {
    return this.random() < 0.2 ? null : make();
  }

  row(): Row {
    return {
      plan_name: this.nullable(() => this.pick(PLANS)),
      balance: this.nullable(() => scaled(Math.floor((this.random() * 2 - 1) * 99_999_999), 3)),
      seats: this.nullable(() => Math.floor(this.random() * 1000) - 10),
      renewed_at: this.nullable(() => new Date(Date.UTC(2020, 0, 1) + Math.floor(this.random() * 3e11)).toISOString()),
    };
  }

  /** One change of a random key in `state` (changed in place): an insert when absent, else an update or a delete. */
  change(state: State, table: string): string {
    const key = this.pick(KEYS);
    const where = `region = ${literal(key.region)} AND account_id = ${key.account_id}`;
    const current = state.get(keyOf(key));
    if (current === undefined) {
      const row = this.row();
      state.set(keyOf(key), row);
      return insertSql(table, key, row);
    }
    if (this.random() < 0.3) {
      state.delete(keyOf(key));
      return `DELETE FROM ${table} WHERE ${where};`;
    }
    const next = this.row();
    const changed = FEATURES.filter(() => this.random() < 0.6);
    if (changed.length === 0) changed.push('seats');
    const updated: Row = { ...current };
    for (const feature of changed) (updated as unknown as Record<Feature, unknown>)[feature] = next[feature];
    state.set(keyOf(key), updated);
    const sets = changed.map((feature) => `${COLUMN[feature]} = ${valueSql(feature, updated)}`);
    return `UPDATE ${table} SET ${sets.join(', ')} WHERE ${where};`;
  }
}

const COLUMN: Record<Feature, string> = {
  plan_name: 'plan',
  balance: 'balance',
  seats: 'seats',
  renewed_at: 'renewed_at',
};

function valueSql(feature: Feature, row: Row): string {
  const value = row[feature];
  if (value === null) return 'NULL';
  if (feature === 'renewed_at') return `${literal(value as string)}::timestamptz`;
  return literal(value);
}

function insertSql(table: string, key: Key, row: Row): string {
  const values = [literal(key.region), String(key.account_id), ...FEATURES.map((feature) => valueSql(feature, row))];
  return `INSERT INTO ${table} (region, account_id, ${FEATURES.map((f) => COLUMN[f]).join(', ')}) VALUES (${values.join(', ')});`;
}

/** unscaled × 10^-scale as exact text with all its scale's digits (PostgreSQL's numeric output). */
function scaled(unscaled: number, scale: number): string {
  const digits = String(Math.abs(unscaled)).padStart(scale + 1, '0');
  return `${unscaled < 0 ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

interface ChangeEvent {
  op: string;
  source: { ts_ms: number; txId: number | null; lsn: number | null };
}

/** Debezium's change events (tombstones left out) from JsonConverter records with schemas. */
function changeEvents(messages: readonly KafkaMessage[]): ChangeEvent[] {
  return messages
    .filter((message) => message.value !== null)
    .map((message) => (JSON.parse(message.value!.toString('utf8')) as { payload: ChangeEvent }).payload);
}

/** The schema with the named fields removed from every record in it. */
function withoutFields(schema: unknown, names: Set<string>): unknown {
  if (Array.isArray(schema)) return schema.map((branch) => withoutFields(branch, names));
  if (schema === null || typeof schema !== 'object') return schema;
  const node = schema as Record<string, unknown>;
  const copy: Record<string, unknown> = { ...node };
  if (node.type === 'record' && Array.isArray(node.fields)) {
    copy.fields = (node.fields as { name: string; type: unknown }[])
      .filter((field) => !names.has(field.name))
      .map((field) => ({ ...field, type: withoutFields(field.type, names) }));
  } else if (typeof node.type === 'object') {
    copy.type = withoutFields(node.type, names);
  }
  return copy;
}

/**
 * Debezium's change events from Avro records in the Confluent wire format, decoded by featurelog's own
 * decoder with the writer schema from the registry (without Debezium 3's ts_us/ts_ns: nanoseconds
 * since 1970 exceed 2^53, which the decoder refuses for a long it returns).
 */
async function avroChangeEvents(messages: readonly KafkaMessage[]): Promise<ChangeEvent[]> {
  const registry = new ConfluentSchemaRegistry({ url: stackEnv().schemaRegistryUrl });
  try {
    const decoder = new RowDecoder(registry);
    const readers = new Map<number, ReturnType<typeof readerSchema>>();
    const events: ChangeEvent[] = [];
    for (const message of messages) {
      if (message.value === null) continue;
      const id = decodeEnvelope(message.value).schemaId;
      let reader = readers.get(id);
      if (reader === undefined) {
        const writer = await registry.getSchema(id);
        reader = readerSchema(withoutFields(writer, new Set(['ts_us', 'ts_ns'])) as typeof writer);
        readers.set(id, reader);
      }
      events.push((await decoder.decode(message.value, reader)) as unknown as ChangeEvent);
    }
    return events;
  } finally {
    await registry.close();
  }
}

interface FeastResponse {
  metadata: { feature_names: string[] };
  results: Array<{ values: unknown[]; statuses: string[] }>;
}

/** What serving answers for every key, as rows of the model (undefined: NOT_FOUND in every feature). */
async function served(http: JsonHttpClient, dev: DevServerRecord): Promise<Map<string, Row | undefined>> {
  const response = await http.request<FeastResponse>('POST', `${dev.urls.serving}/get-online-features`, {
    features: FEATURES.map((feature) => `${VIEW}:${feature}`),
    entities: { region: KEYS.map((key) => key.region), account_id: KEYS.map((key) => key.account_id) },
  });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  const names = response.body.metadata.feature_names;
  const column = (feature: Feature) => response.body.results[names.indexOf(feature)]!;
  const rows = new Map<string, Row | undefined>();
  KEYS.forEach((key, i) => {
    const statuses = FEATURES.map((feature) => column(feature).statuses[i]);
    if (statuses.every((status) => status === 'NOT_FOUND')) {
      rows.set(keyOf(key), undefined);
      return;
    }
    const row = Object.fromEntries(
      FEATURES.map((feature) => {
        const status = column(feature).statuses[i];
        const value = column(feature).values[i] ?? null;
        assert.equal(status, value === null ? 'NULL_VALUE' : 'PRESENT', `${keyOf(key)} ${feature}: ${status}`);
        return [feature, value];
      }),
    ) as unknown as Row;
    rows.set(keyOf(key), row);
  });
  return rows;
}

function expectedServed(state: State): Map<string, Row | undefined> {
  return new Map(KEYS.map((key) => [keyOf(key), state.get(keyOf(key))]));
}

/** The table as PostgreSQL holds it, in the model's terms. */
async function tableState(table: string): Promise<State> {
  const text = await sql(
    `COPY (SELECT region, account_id, plan, balance::text, seats, ` +
      `to_char(renewed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM ${table}) TO STDOUT WITH (FORMAT csv)`,
  );
  const state: State = new Map();
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const cells = parseCsvLine(line);
    const [region, id, plan, balance, seats, renewed] = cells;
    state.set(keyOf({ region: region!, account_id: Number(id) }), {
      plan_name: plan ?? null,
      balance: balance ?? null,
      seats: seats === null || seats === undefined ? null : Number(seats),
      renewed_at: renewed ?? null,
    });
  }
  return state;
}

/** One line of PostgreSQL's CSV: an unquoted empty field is NULL, a quoted one is text. */
function parseCsvLine(line: string): Array<string | null> {
  const cells: Array<string | null> = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let text = '';
      i++;
      for (;;) {
        if (line[i] === '"' && line[i + 1] === '"') {
          text += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else text += line[i++];
      }
      cells.push(text);
      i++;
    } else {
      const end = line.indexOf(',', i) === -1 ? line.length : line.indexOf(',', i);
      const text = line.slice(i, end);
      cells.push(text === '' ? null : text);
      i = end + 1;
    }
  }
  return cells;
}

function cell(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return Number(value);
  return value;
}

async function writeRepo(repoDir: string, capture: Capture, format: string): Promise<void> {
  const env = stackEnv();
  const project = uniqueName('cdc').replace(/-/g, '_');
  await writeFile(
    join(repoDir, 'featurelog.yaml'),
    [
      `project: ${project}`,
      'log:',
      '  type: kafka',
      `  brokers: ${env.kafkaBrokers.join(',')}`,
      'schemaRegistry:',
      '  type: confluent',
      `  url: ${env.schemaRegistryUrl}`,
      'onlineStore:',
      '  type: redis',
      `  url: ${env.redisUrl}`,
      'offlineStore:',
      '  type: local',
      '  path: .featurelog/offline',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(repoDir, 'accounts.yaml'),
    [
      'kind: entity',
      'name: account',
      'join_keys:',
      '  - { name: region, type: string }',
      '  - { name: account_id, type: int64 }',
      '---',
      'kind: data_source',
      'name: accounts_cdc',
      'type: kafka',
      `topic: ${capture.topic}`,
      `format: ${format}`,
      'field_mapping: { plan: plan_name }',
      '---',
      'kind: feature_view',
      `name: ${VIEW}`,
      'entities: [account]',
      'source: accounts_cdc',
      'features:',
      '  - { name: plan_name, type: string }',
      '  - { name: balance, type: string }',
      '  - { name: seats, type: int64 }',
      '  - { name: renewed_at, type: timestamp }',
      '',
    ].join('\n'),
  );
}

/** One way a table reaches a topic: the connector's converters and transforms, and the view's format. */
interface Path {
  label: string;
  format: 'debezium' | 'debezium-unwrapped';
  connector: Record<string, string>;
  /** Each change record's op, commit time and transaction, decoded as its converter wrote it. */
  events: (messages: readonly KafkaMessage[]) => Promise<ChangeEvent[]>;
  /** How many transactions (default 100) in one stream of commits … */
  transactions?: number;
  /** … or what to do meanwhile: `commit(n)` commits n transactions, `committed()` counts those so far. */
  stream?: (
    commit: (count: number, pacingMs?: number) => Promise<void>,
    committed: () => Promise<number>,
  ) => Promise<void>;
  snapshot?: 'initial' | 'no_data';
}

async function checkPath(path: Path, t: TestContext): Promise<void> {
  const seed = Number(process.env.FEATURELOG_CDC_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (FEATURELOG_CDC_SEED=${seed} replays it)`);
  console.log(`cdc e2e: seed ${seed}`);
  const workload = new Workload(seededRandom(seed));

  const capture = newCapture(path.label);
  cleanup.push(() => dropCapture(capture));
  const repoDir = await mkdtemp(join(tmpdir(), 'featurelog-cdc-'));
  cleanup.push(() => rm(repoDir, { recursive: true, force: true }));

  // Rows before the connector: they reach the topic as snapshot rows (op=r).
  const state: State = new Map();
  const initial: string[] = [];
  for (const key of path.snapshot === 'no_data' ? [] : KEYS.filter(() => workload.random() < 0.4)) {
    const row = workload.row();
    state.set(keyOf(key), row);
    initial.push(insertSql(capture.table, key, row));
  }
  await sql(
    `CREATE TABLE ${capture.table} (region text, account_id integer, plan text, balance numeric(12,3), ` +
      `seats integer, renewed_at timestamptz, PRIMARY KEY (region, account_id));\n${initial.join('\n')}`,
  );
  const snapshotState: State = new Map(state);

  await writeRepo(repoDir, capture, path.format);
  let dev: RunningDev | undefined;
  await Promise.all([
    startCapture(capture, { ...path.connector, 'snapshot.mode': path.snapshot ?? 'initial' }),
    startDev(repoDir).then((running) => {
      dev = running;
      cleanup.push(() => running.stop());
    }),
  ]);
  const record = dev!.record;
  const applied = await runCli(['apply'], repoDir);
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);

  // Transactions of 1–3 changes, paced a few ms apart so that commit times differ; each says its txid
  // and counts itself in a sequence (not captured), so a test can act in the middle of a stream.
  const transactions: Array<{ state: State; changes: number }> = [];
  const txids: number[] = [];
  await sql(`CREATE SEQUENCE ${capture.table}_commits`);
  const commit = async (count: number, pacingMs = 4): Promise<void> => {
    const script: string[] = [];
    for (let i = 0; i < count; i++) {
      const statements = Array.from({ length: 1 + Math.floor(workload.random() * 3) }, () =>
        workload.change(state, capture.table),
      );
      transactions.push({ state: new Map(state), changes: statements.length });
      script.push(
        'BEGIN;',
        ...statements,
        `SELECT txid_current() + 0 * nextval('${capture.table}_commits');`,
        'COMMIT;',
        `SELECT pg_sleep(${pacingMs / 1000});`,
      );
    }
    const said = (await sql(script.join('\n')))
      .split('\n')
      .filter((line) => /^\d+$/.test(line))
      .map(Number);
    assert.equal(said.length, count);
    txids.push(...said);
  };
  const committed = async () => Number(await sql(`SELECT last_value FROM ${capture.table}_commits`));
  await (path.stream ?? ((run) => run(path.transactions ?? 100)))(commit, committed);
  const TRANSACTIONS = transactions.length;

  // The model is the table: the test's bookkeeping is checked before anything is compared with it.
  const final = await tableState(capture.table);
  assert.deepEqual(final, state, 'the model of the table is the table');

  // Each commit's time as Debezium wrote it (source.ts_ms), by transaction id; the snapshot's rows after none.
  // one record per change whatever the path; a delete's tombstone (when there is one) is no change
  const expectedRecords = snapshotState.size + transactions.reduce((sum, tx) => sum + tx.changes, 0);
  // Every transaction on the topic (after a redelivery, some twice: duplicates are harmless).
  const onTopic = async (read: readonly KafkaMessage[]) => {
    if (read.filter((message) => message.value !== null).length < expectedRecords) return false;
    const seen = new Set((await path.events(read)).map((event) => Number(event.source.txId)));
    return txids.every((txid) => seen.has(txid));
  };
  const messages = await readTopic(capture.topic, onTopic, 120_000);
  const events = await path.events(messages);
  if (path.stream === undefined) assert.equal(events.length, expectedRecords, 'one change record per change');
  const snapshotEvents = events.filter((event) => event.op === 'r');
  assert.equal(snapshotEvents.length, snapshotState.size, 'one snapshot row per initial row');
  // without a snapshot, the first commit stands for it (the table was empty before it)
  const snapshotAt =
    snapshotEvents.length > 0
      ? Math.max(...snapshotEvents.map((event) => Number(event.source.ts_ms)))
      : Math.min(...events.map((event) => Number(event.source.ts_ms))) - 1;
  const commitTimes = new Map<number, number>();
  for (const event of events.filter((e) => e.op !== 'r')) {
    const txId = Number(event.source.txId);
    const at = Number(event.source.ts_ms);
    assert.ok(!commitTimes.has(txId) || commitTimes.get(txId) === at, `one commit time per transaction ${txId}`);
    commitTimes.set(txId, at);
  }
  const times = txids.map((txid) => {
    const at = commitTimes.get(txid);
    assert.ok(at !== undefined, `transaction ${txid} on the topic`);
    return at;
  });
  assert.ok(times[0]! >= snapshotAt, 'streamed commits after the snapshot');
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, 'commit times in commit order');

  // (a) online: every key as the final table has it; deleted and never-inserted keys NOT_FOUND.
  const http = new JsonHttpClient();
  cleanup.push(async () => http.close());
  let last: Map<string, Row | undefined> | undefined;
  await waitFor(
    async () => {
      last = await served(http, record);
      try {
        assert.deepEqual(last, expectedServed(final));
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 60_000, intervalMs: 200, description: 'online features equal to the final table' },
  ).catch(() => assert.deepEqual(last, expectedServed(final), `online ≠ the final table (seed ${seed})`));

  // (b) a training set at instants between commits: the table as of then (deleted → nulls).
  const history: Array<{ at: number; state: State }> = [
    { at: snapshotAt, state: snapshotState },
    ...transactions.map((tx, i) => ({ at: times[i]!, state: tx.state })),
  ];
  const gaps = history
    .map((point, i) => ({ point, next: history[i + 1]?.at ?? point.at + 60_000 }))
    .filter(({ point, next }) => next - point.at >= 2);
  const pickRandom = seededRandom(seed + 1);
  const instants: Array<{ at: number; state: State }> = [{ at: snapshotAt - 60_000, state: new Map() }];
  for (let i = 0; i < 8 && gaps.length > 0; i++) {
    const { point } = gaps.splice(Math.floor(pickRandom() * gaps.length), 1)[0]!;
    instants.push({ at: point.at + 1, state: point.state });
  }
  instants.push({ at: times.at(-1)! + 1, state: final });
  const entityRows = instants.flatMap((instant) =>
    KEYS.map((key) => ({ ...key, event_timestamp: new Date(instant.at).toISOString(), state: instant.state })),
  );
  const csv = entityRows.map((row) => `"${row.region.replace(/"/g, '""')}",${row.account_id},${row.event_timestamp}`);
  await writeFile(join(repoDir, 'entity_rows.csv'), `region,account_id,event_timestamp\n${csv.join('\n')}\n`);
  const exported = await runCli(
    ['export', '--entities', 'entity_rows.csv', '--features', `${VIEW}:*`, '--output', 'training.parquet'],
    repoDir,
  );
  assert.equal(exported.code, 0, exported.stdout + exported.stderr);
  const training = await readParquetRows(join(repoDir, 'training.parquet'));
  assert.equal(training.length, entityRows.length);
  const actual = training
    .map((row) => ({
      key: `${cell(row.region)}|${cell(row.account_id)}@${new Date(cell(row.event_timestamp) as string).toISOString()}`,
      row: Object.fromEntries(FEATURES.map((feature) => [feature, cell(row[feature])])),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
  const nulls = Object.fromEntries(FEATURES.map((feature) => [feature, null]));
  const expected = entityRows
    .map((row) => ({
      key: `${keyOf(row)}@${row.event_timestamp}`,
      row: { ...nulls, ...row.state.get(keyOf(row)) },
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
  assert.deepEqual(actual, expected, `training set ≠ the table at ${instants.length} instants (seed ${seed})`);

  // (c) backfills of the view, from segments plus the log tail and from the whole log, replay its deletes
  // as deletes: the online store still equals the final table (deleted keys NOT_FOUND).
  for (const source of ['segments', 'log']) {
    const backfill = await runCli(['backfill', VIEW, '--source', source], repoDir);
    assert.equal(backfill.code, 0, backfill.stdout + backfill.stderr);
    assert.deepEqual(await served(http, record), expectedServed(final), `online after a backfill from ${source}`);
  }
  t.diagnostic(
    `${TRANSACTIONS} transactions, ${expectedRecords} changes, ${events.length - expectedRecords} redelivered; ` +
      `${final.size} rows at the end; ${instants.length} instants`,
  );
}

describe('CDC: a PostgreSQL table through Debezium to featurelog, online and point in time', () => {
  it('Debezium envelope in JsonConverter: online equals the final table, a training set equals the table at instants', (t) =>
    checkPath(
      {
        label: 'cdc_json',
        format: 'debezium',
        connector: JSON_CONVERTERS,
        events: async (messages) => changeEvents(messages),
        transactions: 150,
      },
      t,
    ));

  it("Debezium envelope in Avro through Apicurio's converter (Confluent wire format): the same", (t) =>
    checkPath(
      {
        label: 'cdc_avro',
        format: 'debezium',
        connector: avroConverters(),
        events: avroChangeEvents,
        transactions: 60,
      },
      t,
    ));

  it('ExtractNewRecordState rows (debezium-unwrapped) in JsonConverter: the same', (t) =>
    checkPath(
      {
        label: 'cdc_flat',
        format: 'debezium-unwrapped',
        connector: {
          ...JSON_CONVERTERS,
          transforms: 'unwrap',
          'transforms.unwrap.type': 'io.debezium.transforms.ExtractNewRecordState',
          'transforms.unwrap.add.fields': 'op,source.ts_ms,source.txId,source.lsn',
          'transforms.unwrap.delete.tombstone.handling.mode': 'rewrite',
        },
        events: async (messages) =>
          messages
            .filter((message) => message.value !== null)
            .map((message) => {
              const { payload } = JSON.parse(message.value!.toString('utf8')) as { payload: Record<string, unknown> };
              return {
                op: String(payload.__op),
                source: {
                  ts_ms: Number(payload.__source_ts_ms),
                  txId: Number(payload.__source_txId),
                  lsn: Number(payload.__source_lsn),
                },
              };
            }),
        transactions: 60,
      },
      t,
    ));
});

describe('CDC: the Connect worker killed with kill -9 during a stream of commits, and started again', () => {
  it('no committed row is missing online or in a training set; redelivered records are harmless', (t) =>
    checkPath(
      {
        label: 'cdc_kill',
        format: 'debezium',
        connector: JSON_CONVERTERS,
        events: async (messages) => changeEvents(messages),
        snapshot: 'no_data',
        stream: async (commit, committed) => {
          await commit(20);
          // kill -9 once a slow stream is under way, while its commits go on
          const before = await committed();
          const stream = commit(60, 20);
          await waitFor(async () => (await committed()) >= before + 10, {
            timeoutMs: 30_000,
            description: '10 commits of the stream',
          });
          const pid = await killConnect();
          t.diagnostic(`Connect worker ${pid} killed after commit ${await committed()}`);
          await stream;
          // commits while the worker is down wait in the replication slot
          await commit(20);
          const at = performance.now();
          await restartConnect();
          t.diagnostic(`Connect started again in ${Math.round(performance.now() - at)} ms`);
          await commit(20);
        },
      },
      t,
    ));
});

describe('featurelog init --example cdc: the scaffold, made live by its README', () => {
  it('plans, and its five commands serve the table: a snapshot, then an update and a delete', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'featurelog-cdc-init-'));
    cleanup.push(() => rm(parent, { recursive: true, force: true }));
    const repoDir = join(parent, 'shop');
    const unknown = await runCli(['init', '--example', 'kafka', join(parent, 'other')], parent);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /INIT_EXAMPLE_UNKNOWN.*"kafka".*drivers, cdc/);
    const init = await runCli(['init', '--example', 'cdc', repoDir], parent);
    assert.equal(init.code, 0, init.stdout + init.stderr);
    assert.match(init.stdout, /README\.md/);
    for (const file of ['README.md', 'schema.sql', 'connector.yaml', 'customers.yaml', 'featurelog.yaml']) {
      await readFile(join(repoDir, file), 'utf8');
    }

    // The example's fixed names (table, slot, topic, project) made this run's own: the stack is shared.
    const capture = newCapture('cdc_init');
    cleanup.push(() => dropCapture(capture));
    const rename = (text: string) =>
      text
        .replace(/shop_customers/g, capture.slot)
        .replace(/\bcustomers\b/g, capture.table)
        .replace(/\bshop\.public\./g, `${capture.name}.public.`)
        .replace(/^ {2}topic\.prefix: shop$/m, `  topic.prefix: ${capture.name}`)
        .replace(/^project: shop$/m, `project: ${capture.name}`);
    for (const file of ['schema.sql', 'connector.yaml', 'customers.yaml', 'featurelog.yaml']) {
      await writeFile(join(repoDir, file), rename(await readFile(join(repoDir, file), 'utf8')));
    }
    capture.publication = capture.slot;
    // featurelog.yaml reads the stack's addresses from these (its defaults are the default ports), and
    // connector.yaml's ${POSTGRES_*} references are filled from the environment of the CLI (plan's
    // validation by the worker) and of dev's registry app (the config it sends), as the README says.
    const env = stackEnv();
    const pg = stackPostgresEnv();
    Object.assign(process.env, {
      FEATURELOG_KAFKA_BROKERS: env.kafkaBrokers.join(','),
      FEATURELOG_SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
      FEATURELOG_REDIS_URL: env.redisUrl,
      FEATURELOG_CONNECT_URL: env.connectUrl,
      POSTGRES_HOST: pg.host,
      POSTGRES_PORT: String(pg.port),
      POSTGRES_USER: pg.user,
      POSTGRES_PASSWORD: pg.password ?? '',
      POSTGRES_DB: pg.database,
    });
    const connectorYaml = await readFile(join(repoDir, 'connector.yaml'), 'utf8');
    assert.match(connectorYaml, /database\.password: \$\{POSTGRES_PASSWORD\}/, 'the password is a reference');
    assert.match(connectorYaml, new RegExp(`^name: ${capture.name}$`, 'm'));

    // 1. the table
    await sql(await readFile(join(repoDir, 'schema.sql'), 'utf8'));
    const planned = await runCli(['plan'], repoDir);
    assert.equal(planned.code, PLAN_HAS_CHANGES_EXIT_CODE, planned.stdout + planned.stderr);
    for (const name of ['customer', 'customers_cdc', 'customer_profile', capture.name])
      assert.match(planned.stdout, new RegExp(name));
    // 2. dev, 3. apply: the registry app creates the connector on the worker
    const dev = await startDev(repoDir);
    cleanup.push(() => dev.stop());
    const applied = await runCli(['apply'], repoDir);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    // 4. the connector and its task RUNNING, as the worker reports them
    await waitFor(
      async () => {
        const listed = await runCli(['ls', 'connectors'], repoDir);
        return (listed.code === 0 && /RUNNING/.test(listed.stdout) && listed.stdout.includes(capture.name)) || false;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: `${capture.name} RUNNING in featurelog ls connectors` },
    );
    assert.doesNotMatch(applied.stdout + applied.stderr, new RegExp(pg.password ?? 'no password'));

    // 5. the three customers of schema.sql, served; then an update and a delete
    const online = async () => {
      const got = await runCli(
        ['--json', 'get-online', '--features', 'customer_profile:*'].concat(
          ...[1, 2, 3].map((id) => ['--entity', `customer_id=${id}`]),
        ),
        repoDir,
      );
      if (got.code !== 0) return undefined;
      const body = JSON.parse(got.stdout) as FeastResponse;
      const names = body.metadata.feature_names;
      return [0, 1, 2].map((row) =>
        Object.fromEntries(
          names
            .slice(1)
            .map((name, i) => [
              name,
              body.results[i + 1]!.statuses[row] === 'NOT_FOUND' ? 'NOT_FOUND' : body.results[i + 1]!.values[row],
            ]),
        ),
      );
    };
    const expectOnline = (expected: unknown[], description: string) =>
      waitFor(
        async () => {
          const got = await online();
          return JSON.stringify(got) === JSON.stringify(expected) || false;
        },
        { timeoutMs: 60_000, intervalMs: 250, description },
      ).catch(async (error: Error) => {
        assert.deepEqual(await online(), expected, error.message);
      });
    const three = [
      { plan: 'free', credit_limit_eur: 0, risk_flag: false, renewed_at: null },
      { plan: 'pro', credit_limit_eur: 2500, risk_flag: false, renewed_at: '2026-03-01T00:00:00.000Z' },
      { plan: 'team', credit_limit_eur: 12000.5, risk_flag: true, renewed_at: '2026-01-15T09:30:00.000Z' },
    ];
    await expectOnline(three, 'the snapshot of schema.sql served');
    await sql(
      `UPDATE ${capture.table} SET plan = 'pro' WHERE customer_id = 1; DELETE FROM ${capture.table} WHERE customer_id = 3;`,
    );
    const notFound = {
      plan: 'NOT_FOUND',
      credit_limit_eur: 'NOT_FOUND',
      risk_flag: 'NOT_FOUND',
      renewed_at: 'NOT_FOUND',
    };
    await expectOnline([{ ...three[0], plan: 'pro' }, three[1], notFound], 'the update and the delete served');
  });
});
