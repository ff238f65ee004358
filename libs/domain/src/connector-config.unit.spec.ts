import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  initialRegistryState,
  evolveRegistry,
  malformedPlaceholders,
  planChanges,
  planToChangeset,
  resolveConnectorConfig,
  secretReferencesIn,
  validateDefinitions,
  type ConnectorDefinition,
  type TaggedDefinition,
} from '@featurelog/domain';

const connector = (overrides: Partial<ConnectorDefinition> = {}): TaggedDefinition => ({
  kind: 'connector',
  definition: {
    name: 'orders_cdc',
    worker: 'default',
    connectorClass: 'io.debezium.connector.postgresql.PostgresConnector',
    config: { 'database.hostname': 'db', 'database.password': '${PG_PASSWORD}', 'tasks.max': '1' },
    state: 'running',
    ...overrides,
  },
});
const brief = (definitions: TaggedDefinition[]) =>
  validateDefinitions(definitions).map((p) => `${p.code} ${p.kind} ${p.name} ${p.field}`);

describe('connector definitions', () => {
  it('accepts a connector whose secrets are references', () => {
    assert.deepEqual(brief([connector()]), []);
  });

  it('refuses a secret written in clear, naming the field and never repeating the value', () => {
    const problems = validateDefinitions([
      connector({ config: { 'database.password': 'hunter2', 'sasl.jaas.config': '${env:JAAS}' } }),
    ]);
    assert.deepEqual(
      problems.map((p) => `${p.code} ${p.field}`),
      ['SECRET_IN_CLEAR config.database.password'],
    );
    assert.doesNotMatch(problems[0]!.message, /hunter2/);
    assert.match(problems[0]!.message, /\$\{DATABASE_PASSWORD\}/);
  });

  it('refuses name and connector.class in config, a bad state, worker, class and placeholder', () => {
    assert.deepEqual(
      brief([
        connector({
          worker: 'Bad Worker',
          connectorClass: 'not a class',
          state: 'stopped' as ConnectorDefinition['state'],
          config: {
            name: 'x',
            'connector.class': 'y',
            'file.path': '${not-a-var}',
            'tasks.max': 1 as unknown as string,
          },
        }),
      ]),
      [
        'INVALID_VALUE connector orders_cdc worker',
        'INVALID_VALUE connector orders_cdc connectorClass',
        'INVALID_VALUE connector orders_cdc state',
        'INVALID_VALUE connector orders_cdc config.name',
        'INVALID_VALUE connector orders_cdc config.connector.class',
        'INVALID_VALUE connector orders_cdc config.file.path',
        'INVALID_VALUE connector orders_cdc config.tasks.max',
      ],
    );
    assert.deepEqual(brief([connector({ config: undefined as unknown as Record<string, string> })]), [
      'MISSING_FIELD connector orders_cdc config',
    ]);
  });

  it('tells secret references from Connect provider references and typos', () => {
    assert.deepEqual(secretReferencesIn('jdbc:${PG_USER}:${PG_PASSWORD}@${env:HOST}'), ['PG_USER', 'PG_PASSWORD']);
    assert.deepEqual(malformedPlaceholders('${PG_USER} ${file:/etc/x:key} ${} ${a-b}'), ['${}', '${a-b}']);
  });

  it('resolves references only when the config is sent, listing unset variables', () => {
    const { config, missing } = resolveConnectorConfig(
      {
        ...(connector().definition as ConnectorDefinition),
        config: { a: '${PG_PASSWORD}', b: 'x${PG_USER}y', c: 'plain' },
      },
      { PG_PASSWORD: 'secret' },
    );
    assert.deepEqual(config, {
      a: 'secret',
      b: 'x${PG_USER}y',
      c: 'plain',
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      name: 'orders_cdc',
    });
    assert.deepEqual(missing, [{ key: 'b', variable: 'PG_USER' }]);
  });

  it('plans a config change per setting, a pause as a state change, and a prune as a delete', () => {
    let state = initialRegistryState();
    const first = planChanges([connector()], state);
    assert.deepEqual(
      first.items.map((i) => `${i.action} ${i.kind} ${i.name}`),
      ['create connector orders_cdc'],
    );
    state = evolveRegistry(state, planToChangeset(first, { applyId: 'a', appliedAt: 1 }), 0);

    const changed = connector({
      config: { ...(connector().definition as ConnectorDefinition).config, 'slot.name': 'orders' },
      state: 'paused',
    });
    const update = planChanges([changed], state);
    assert.deepEqual(
      update.items[0]!.differences.map((d) => `${d.path}: ${String(d.before)} → ${String(d.after)}`),
      ['config[slot.name]: undefined → orders', 'state: running → paused'],
    );
    const pruned = planChanges([], state, { prune: true });
    assert.deepEqual(
      pruned.items.map((i) => `${i.action} ${i.name} ${i.willApply}`),
      ['delete orders_cdc true'],
    );
    assert.deepEqual(planToChangeset(pruned, { applyId: 'b', appliedAt: 2 }).changes, [
      { op: 'delete', kind: 'connector', name: 'orders_cdc' },
    ]);
  });
});
