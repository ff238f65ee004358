import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appListenAddress, FETCH_BLOCKED_PORTS, resolveSecret } from '@featurelog/config';
import { parse, problemsOf } from './config.test-kit';

const SECURE = `project: p
log:
  type: kafka
  brokers: kafka.example:9094
  tls: { ca: certs/ca.pem }
  sasl: { mechanism: scram-sha-512, username: featurelog, password: "\${KAFKA_PASSWORD}" }
schemaRegistry:
  type: confluent
  url: https://registry.example/apis/ccompat/v7
  basicAuth: { username: reg, password: "\${REGISTRY_PASSWORD}" }
  tls: { ca: /etc/ssl/private-ca.pem }
onlineStore:
  type: redis
  url: rediss://redis.example:6380
  username: featurelog
  password: \${REDIS_PASSWORD}
  tls: true
`;

describe('secure connection settings', () => {
  it('reads TLS, SASL, basic auth and the Redis ACL user, with CA paths relative to the repo', () => {
    const config = parse(SECURE);
    assert.deepEqual(config.log, {
      type: 'kafka',
      brokers: ['kafka.example:9094'],
      clientId: 'featurelog',
      tls: { ca: '/repo/certs/ca.pem', rejectUnauthorized: true },
      sasl: {
        mechanism: 'scram-sha-512',
        username: 'featurelog',
        password: { setting: 'log.sasl.password', reference: '${KAFKA_PASSWORD}' },
      },
    });
    assert.deepEqual(config.schemaRegistry, {
      type: 'confluent',
      url: 'https://registry.example/apis/ccompat/v7',
      tls: { ca: '/etc/ssl/private-ca.pem', rejectUnauthorized: true },
      basicAuth: {
        username: 'reg',
        password: { setting: 'schemaRegistry.basicAuth.password', reference: '${REGISTRY_PASSWORD}' },
      },
    });
    assert.deepEqual(config.onlineStore, {
      type: 'redis',
      url: 'rediss://redis.example:6380',
      username: 'featurelog',
      password: { setting: 'onlineStore.password', reference: '${REDIS_PASSWORD}' },
      tls: { rejectUnauthorized: true },
    });
  });

  it('reads a Redis Cluster: cluster true, url one seed node and nodes more; nodes alone is refused', () => {
    const config = parse(
      'project: p\nonlineStore: { type: redis, cluster: true, url: "redis://a:7000", nodes: ["redis://b:7001"], username: u }\n',
    );
    assert.deepEqual(config.onlineStore, {
      type: 'redis',
      url: 'redis://a:7000',
      username: 'u',
      cluster: { nodes: ['redis://b:7001'] },
    });
    assert.deepEqual(
      parse('project: p\nonlineStore: { type: redis, cluster: true, url: "redis://a:7000" }\n').onlineStore,
      {
        type: 'redis',
        url: 'redis://a:7000',
        cluster: { nodes: [] },
      },
    );
    assert.match(
      problemsOf('project: p\nonlineStore: { type: redis, url: "redis://a:7000", nodes: ["redis://b:7001"] }\n').join(
        '\n',
      ),
      /cluster/,
    );
  });

  it('loads while the secrets are unset, and names setting and variable only when one is resolved', () => {
    const config = parse(SECURE, {});
    assert.ok(config.log.type === 'kafka' && config.log.sasl);
    const password = config.log.sasl.password;
    assert.throws(() => resolveSecret(password, {}), {
      code: 'CONFIG_SECRET_UNSET',
      message: /^log\.sasl\.password in featurelog\.yaml: environment variable KAFKA_PASSWORD is not set/,
    });
    assert.equal(resolveSecret(password, { KAFKA_PASSWORD: 's3cret' }), 's3cret');
    assert.equal(resolveSecret({ setting: 'x', reference: '${A:-fallback}$$' }, {}), 'fallback$');
  });

  it('the config object never holds the secret itself', () => {
    const config = parse(SECURE, { KAFKA_PASSWORD: 'kafka-s3cret', REDIS_PASSWORD: 'redis-s3cret' });
    const text = JSON.stringify(config);
    assert.ok(!text.includes('kafka-s3cret') && !text.includes('redis-s3cret'));
  });

  it('refuses a password written into the file, without repeating it', () => {
    const problems = problemsOf(
      'project: p\nonlineStore: { type: redis, url: "redis://h:1", username: u, password: hunter2hunter2 }\n',
    );
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!,
      /^2 onlineStore\.password: must be an environment reference such as \$\{KAFKA_PASSWORD\}/,
    );
    assert.ok(!problems[0]!.includes('hunter2'));
  });

  it('names wrong shapes: mechanism, tls fields, half a client certificate', () => {
    const problems = problemsOf(
      [
        'project: p',
        'log:',
        '  type: kafka',
        '  brokers: h:1',
        '  sasl: { mechanism: gssapi, username: u, password: "${P}" }',
        '  tls: { cert: c.pem, verify: false }',
        '',
      ].join('\n'),
    );
    assert.deepEqual(problems, [
      '5 log.sasl.mechanism: must be one of scram-sha-512, scram-sha-256, plain, got "gssapi"',
      '6 log.tls: must be true or false, or a mapping of ca, cert, key, rejectUnauthorized, servername, got a mapping',
      '6 log.tls.key: a client certificate needs both cert and key',
    ]);
  });

  it('`tls: false` is no TLS', () => {
    const config = parse('project: p\nlog: { type: kafka, brokers: "h:1", tls: false }\n');
    assert.deepEqual(config.log, { type: 'kafka', brokers: ['h:1'], clientId: 'featurelog' });
  });
});

describe('apps listen addresses', () => {
  const apps = parse('project: p\napps:\n  serving: { host: 0.0.0.0, port: 8080 }\n  jobs: { port: 0 }\n').apps;

  it('takes featurelog.yaml, then the defaults', () => {
    assert.deepEqual(appListenAddress(apps, 'serving', 6574, {}), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(appListenAddress(apps, 'jobs', 6573, {}), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(appListenAddress(apps, 'registry', 6570, {}), { host: '127.0.0.1', port: 6570 });
    assert.deepEqual(appListenAddress(undefined, 'dev', 6569, {}), { host: '127.0.0.1', port: 6569 });
  });

  it('refuses a port that fetch refuses, naming where it came from', () => {
    const blocked = parse('project: p\napps:\n  serving: { port: 6566 }\n').apps;
    assert.throws(() => appListenAddress(blocked, 'serving', 6574, {}), {
      message:
        /port 6566 for serving \(from apps.serving.port of featurelog.yaml\) is one browsers and Node's fetch refuse/,
    });
    assert.throws(() => appListenAddress(apps, 'jobs', 6573, { FEATURELOG_JOBS_PORT: '6667' }), {
      message: /port 6667 for jobs \(from FEATURELOG_JOBS_PORT\)/,
    });
    assert.throws(() => appListenAddress(undefined, 'dev', 6669, {}), {
      message: /port 6669 for dev \(from its default port/,
    });
  });

  it('lists the ports Node’s fetch refuses, and none of the apps’ defaults is one', async () => {
    const refusal = async (port: number) => {
      try {
        await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1_000) });
        return 'answered';
      } catch (error) {
        return String((error as Error & { cause?: Error }).cause?.message ?? error);
      }
    };
    for (const port of [6566, 6665, 6669, 10080]) {
      assert.ok(FETCH_BLOCKED_PORTS.has(port));
      assert.match(await refusal(port), /bad port/, `fetch refuses ${port}`);
    }
    for (const port of [6569, 6570, 6571, 6572, 6573, 6574]) {
      assert.ok(!FETCH_BLOCKED_PORTS.has(port), `default port ${port}`);
      assert.doesNotMatch(await refusal(port), /bad port/, `fetch tries ${port}`);
    }
  });

  it('lets FEATURELOG_<APP>_HOST / _PORT override the file, and names a bad variable', () => {
    const env = { FEATURELOG_SERVING_HOST: '::1', FEATURELOG_SERVING_PORT: '9999' };
    assert.deepEqual(appListenAddress(apps, 'serving', 6574, env), { host: '::1', port: 9999 });
    assert.throws(() => appListenAddress(apps, 'compactor', 6572, { FEATURELOG_COMPACTOR_PORT: 'http' }), {
      message: /FEATURELOG_COMPACTOR_PORT="http" is not a TCP port/,
    });
  });

  it('refuses an unknown app or a port out of range', () => {
    assert.deepEqual(problemsOf('project: p\napps:\n  server: { port: 1 }\n  jobs: { port: 70000 }\n'), [
      '3 apps.server: unknown field "server"; allowed here: registry, materializer, compactor, jobs, serving, dev, ui',
      '4 apps.jobs.port: must be <= 65535, got 70000',
    ]);
  });
});
