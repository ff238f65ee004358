import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { interpolateEnv, loadProjectConfig, type InterpolationProblem } from '@featurelog/config';
import { parse, problemsOf } from './config.test-kit';

const EXAMPLE = join(__dirname, '../../../examples/drivers');

describe('loadProjectConfig', () => {
  it('reads the example repo, interpolating defaults and resolving paths against the repo', async () => {
    const config = await loadProjectConfig(EXAMPLE, { env: {} });
    assert.deepEqual(config, {
      project: 'drivers',
      repoDir: resolve(EXAMPLE),
      log: { type: 'embedded', path: resolve(EXAMPLE, '.featurelog/log') },
      schemaRegistry: { type: 'embedded', path: resolve(EXAMPLE, '.featurelog/schemas') },
      onlineStore: { type: 'embedded', path: resolve(EXAMPLE, '.featurelog/online') },
      offlineStore: { type: 'local', path: resolve(EXAMPLE, '.featurelog/offline') },
    });
    const moved = await loadProjectConfig(EXAMPLE, { env: { FEATURELOG_DATA_DIR: '/data' } });
    assert.equal(moved.log.type === 'embedded' && moved.log.path, '/data/log');
  });

  it('says when there is no featurelog.yaml', async () => {
    await assert.rejects(loadProjectConfig(join(EXAMPLE, 'nowhere')), {
      code: 'CONFIG_NOT_FOUND',
      message: /featurelog init/,
    });
  });
});

describe('parseProjectConfig', () => {
  it('defaults everything to embedded under .featurelog/', () => {
    assert.deepEqual(parse('project: p\n'), {
      project: 'p',
      repoDir: '/repo',
      log: { type: 'embedded', path: '/repo/.featurelog/log' },
      schemaRegistry: { type: 'embedded', path: '/repo/.featurelog/schemas' },
      onlineStore: { type: 'embedded', path: '/repo/.featurelog/online' },
      offlineStore: { type: 'local', path: '/repo/.featurelog/offline' },
    });
  });

  it('reads the distributed settings, brokers as a list or comma-separated', () => {
    const text = [
      'project: p',
      'log: { type: kafka, brokers: "${BROKERS:-127.0.0.1:9092}" }',
      'schemaRegistry: { type: confluent, url: "${REGISTRY}" }',
      'onlineStore: { type: redis, url: redis://127.0.0.1:6379 }',
      'offlineStore: { type: local, path: /segments }',
    ].join('\n');
    const config = parse(text, { REGISTRY: 'http://registry:8081' });
    assert.deepEqual(config.log, { type: 'kafka', brokers: ['127.0.0.1:9092'], clientId: 'featurelog' });
    assert.deepEqual(config.schemaRegistry, { type: 'confluent', url: 'http://registry:8081' });
    assert.deepEqual(config.onlineStore, { type: 'redis', url: 'redis://127.0.0.1:6379' });
    assert.deepEqual(config.offlineStore, { type: 'local', path: '/segments' });
    const many = parse(text, { REGISTRY: 'http://r', BROKERS: 'a:1, b:2' });
    assert.deepEqual(many.log.type === 'kafka' && many.log.brokers, ['a:1', 'b:2']);
    const listed = parse('project: p\nlog:\n  type: kafka\n  brokers: [a:1, b:2]\n  clientId: me\n');
    assert.deepEqual(listed.log, { type: 'kafka', brokers: ['a:1', 'b:2'], clientId: 'me' });
    const tuned = parse(
      'project: p\nlog: { type: kafka, brokers: a:1, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 }\n',
    );
    assert.deepEqual(tuned.log, {
      type: 'kafka',
      brokers: ['a:1'],
      clientId: 'featurelog',
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 1000,
    });
  });

  it('names every wrong setting, its line and the expected form', () => {
    const text = [
      'project: My Project', // 1
      'log:', // 2
      '  type: kafka', // 3
      '  path: /x', // 4
      'onlineStore:', // 5
      '  type: memcached', // 6
      'schemaRegistry:', // 7
      '  type: confluent', // 8
      'offlineStore: { type: local, path: "${SEGMENTS}" }', // 9
      'metrics: {}', // 10
    ].join('\n');
    assert.deepEqual(problemsOf(text), [
      '1 project: must be lower-case letters, digits, _ and -, starting with a letter (^[a-z][a-z0-9_-]*$); prefixes every topic: <project>.registry, <project>.features.<view>, got "My Project"',
      '2 log.brokers: is required in log',
      '4 log.path: unknown field "path"; allowed here: type, brokers, clientId, sessionTimeoutMs, heartbeatIntervalMs, tls, sasl',
      '6 onlineStore.type: must be one of embedded, redis, got "memcached"',
      '7 schemaRegistry.url: is required in schemaRegistry',
      '9 offlineStore.path: environment variable SEGMENTS is not set and ${SEGMENTS} has no default (${SEGMENTS:-default})',
      '10 metrics: unknown field "metrics"; allowed here: project, log, schemaRegistry, onlineStore, offlineStore, serving, apps, connect',
    ]);
  });

  it('reads serving API keys from the environment or as digests, and never repeats a key in a problem', () => {
    const digest = 'a'.repeat(64);
    const text = [
      'project: p',
      'serving:',
      '  maxEntityRows: 50',
      '  apiKeys:',
      '    - { name: model, key: "${MODEL_KEY}", scopes: [read] }',
      `    - { name: ops, sha256: ${digest}, scopes: [read, push, apply] }`,
    ].join('\n');
    const secret = 'model-key-0123456789';
    assert.deepEqual(parse(text, { MODEL_KEY: secret }).serving, {
      maxEntityRows: 50,
      apiKeys: [
        { name: 'model', key: secret, scopes: ['read'] },
        { name: 'ops', sha256: digest, scopes: ['read', 'push', 'apply'] },
      ],
    });
    assert.equal(parse('project: p\n').serving, undefined);
    const bad = [
      'project: p', // 1
      'serving:', // 2
      '  maxEntityRows: 0', // 3
      '  apiKeys:', // 4
      '    - { name: a, key: short, scopes: [read] }', // 5
      '    - { name: a, key: 12345678901234567, sha256: abc, scopes: [] }', // 6
      '    - { name: c, scopes: [write] }', // 7
    ].join('\n');
    const problems = problemsOf(bad);
    assert.deepEqual(problems, [
      '3 serving.maxEntityRows: must be >= 1, got 0',
      '5 serving.apiKeys.0.key: must be at least 16 character(s) long',
      '6 serving.apiKeys.1.key: must be a string',
      '6 serving.apiKeys.1.sha256: must be 64 lowercase hex characters: the SHA-256 of the key (echo -n "$KEY" | sha256sum), so the server never holds the key, got "abc"',
      '6 serving.apiKeys.1.scopes: must have at least 1 item(s)',
      '6 serving.apiKeys.1: needs exactly one of key (e.g. ${MODEL_API_KEY}) or sha256',
      '6 serving.apiKeys.1.name: "a" names two API keys',
      '7 serving.apiKeys.2.scopes.0: must be one of read, push, apply, jobs, admin, got "write"',
      '7 serving.apiKeys.2: needs exactly one of key (e.g. ${MODEL_API_KEY}) or sha256',
    ]);
    assert.ok(!problems.join('\n').includes('12345678901234567'), 'a key is never repeated');
  });

  it('loads with an API key whose variable is unset, marking that key unavailable and naming the variable', () => {
    const text = [
      'project: p', // 1
      'serving:', // 2
      '  apiKeys:', // 3
      '    - { name: model, key: "${MODEL_KEY}", scopes: [read] }', // 4
      '    - { name: ops, sha256: "${OPS_KEY_SHA}", scopes: [admin, jobs] }', // 5
      '    - { name: ci, key: "${CI_KEY:-ci-key-0123456789ab}", scopes: [apply] }', // 6
    ].join('\n');
    const [model, ops, ci] = parse(text, {}).serving!.apiKeys;
    assert.deepEqual(model, {
      name: 'model',
      scopes: ['read'],
      unavailable: 'environment variable MODEL_KEY is not set (featurelog.yaml:4: serving.apiKeys.0.key)',
    });
    assert.equal(model!.key, undefined, 'the placeholder is never taken for the key');
    assert.match(ops!.unavailable!, /OPS_KEY_SHA is not set .*:5: serving\.apiKeys\.1\.sha256/);
    assert.deepEqual(ci, { name: 'ci', key: 'ci-key-0123456789ab', scopes: ['apply'] });
    // Anywhere else an unset variable is still a problem of the file.
    assert.deepEqual(
      problemsOf('project: p\nserving:\n  apiKeys:\n    - { name: "${WHO}", key: "${K}", scopes: [read] }\n'),
      ['4 serving.apiKeys.0.name: environment variable WHO is not set and ${WHO} has no default (${WHO:-default})'],
    );
  });

  it('reports YAML syntax errors with their line', () => {
    assert.deepEqual(problemsOf('project: p\nlog: [unclosed\n'), [
      '3 : YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });
});

describe('interpolateEnv', () => {
  const run = (value: unknown, env: Record<string, string>) => {
    const problems: InterpolationProblem[] = [];
    return { value: interpolateEnv(value, env, problems), problems };
  };

  it('substitutes ${VAR} and ${VAR:-default} in every string, like a shell', () => {
    assert.deepEqual(
      run({ a: ['${A}-${B:-b}', 5, true], c: 'x${EMPTY:-d}y', d: 'cost: $$5 ${A:-}' }, { A: 'a', EMPTY: '' }),
      {
        value: { a: ['a-b', 5, true], c: 'xdy', d: 'cost: $5 a' },
        problems: [],
      },
    );
    assert.deepEqual(run('${A:-}', {}).value, '');
    assert.deepEqual(run('${URL:-http://h:1/p}', {}).value, 'http://h:1/p');
  });

  it('names the setting when a variable is missing or a placeholder is malformed', () => {
    assert.deepEqual(run({ log: { url: '${NOPE}' }, list: ['${bad name}', '${unclosed'] }, {}).problems, [
      {
        path: ['log', 'url'],
        message: 'environment variable NOPE is not set and ${NOPE} has no default (${NOPE:-default})',
        variable: 'NOPE',
      },
      { path: ['list', 0], message: '"${bad name}" is not ${VAR} or ${VAR:-default} (write $$ for a literal $)' },
      { path: ['list', 1], message: '"${" is not ${VAR} or ${VAR:-default} (write $$ for a literal $)' },
    ]);
  });
});
