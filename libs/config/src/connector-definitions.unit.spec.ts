import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDefinitionTexts, parseProjectConfig, toYamlDefinition } from '@featurelog/config';

const CONNECTOR = `kind: connector
name: orders_cdc
class: io.debezium.connector.postgresql.PostgresConnector
config:
  database.hostname: db
  database.password: \${PG_PASSWORD}
  tasks.max: 1
  include.schema.changes: false
`;

/** CONNECTOR's config as read: every value a string, the ${...} reference as written. */
const CONFIG = {
  'database.hostname': 'db',
  'database.password': '${PG_PASSWORD}',
  'tasks.max': '1',
  'include.schema.changes': 'false',
};

describe('connector definition files', () => {
  it('reads a connector: settings as strings, worker default, state running, the reference kept as written', () => {
    const { definitions, problems } = parseDefinitionTexts([{ file: 'orders.yaml', text: CONNECTOR }]);
    assert.deepEqual(problems, []);
    assert.deepEqual(definitions[0]!.definition, {
      name: 'orders_cdc',
      worker: 'default',
      connectorClass: 'io.debezium.connector.postgresql.PostgresConnector',
      config: CONFIG,
      state: 'running',
    });
    assert.deepEqual(toYamlDefinition(definitions[0]!), {
      kind: 'connector',
      name: 'orders_cdc',
      worker: 'default',
      class: 'io.debezium.connector.postgresql.PostgresConnector',
      config: CONFIG,
      state: 'running',
    });
  });

  it('names the file, line and field of what is wrong', () => {
    const text = CONNECTOR.replace('${PG_PASSWORD}', 'hunter2').replace('config:', 'state: stopped\nconfig:');
    const { problems } = parseDefinitionTexts([{ file: 'orders.yaml', text: `${text}colour: red\n` }]);
    assert.deepEqual(
      problems.map((p) => `${p.file}:${p.line} ${p.code} ${p.field}`),
      [
        'orders.yaml:4 INVALID_VALUE state',
        'orders.yaml:7 SECRET_IN_CLEAR config.database.password',
        'orders.yaml:10 UNKNOWN_FIELD colour',
      ],
    );
    assert.ok(problems.every((p) => !p.message.includes('hunter2')));
  });
});

describe('connect workers in featurelog.yaml', () => {
  const parse = (text: string) =>
    parseProjectConfig(`project: shop\n${text}`, { file: 'featurelog.yaml', repoDir: '/r', env: {} });

  it('takes one url as the worker named default, or named workers', () => {
    assert.deepEqual(parse('connect: { url: "http://connect:8083/" }').connect, {
      workers: { default: { url: 'http://connect:8083' } },
    });
    assert.deepEqual(parse('connect:\n  workers:\n    cdc: { url: http://a:8083 }\n').connect, {
      workers: { cdc: { url: 'http://a:8083' } },
    });
    assert.equal(parse('').connect, undefined);
  });

  it('refuses both shapes at once, and a url that is not http', () => {
    assert.throws(() => parse('connect: { url: "http://a", workers: { b: { url: "http://b" } } }'), /connect/);
    assert.throws(() => parse('connect: { url: "connect:8083" }'), /connect\.url/);
  });
});
