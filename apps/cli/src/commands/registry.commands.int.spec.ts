import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfluentSchemaRegistry } from '@featurelog/avro';
import { topicNames, valueSubject, type Plan, type RegistryObjectVersion } from '@featurelog/domain';
import { KafkaEventLog, loadTopicDeclarations, topicSpecFor } from '@featurelog/log';
import { stackEnv } from '@featurelog/testing';
import { BASE_VIEW, explain, REPO_ROOT, TempFeatureRepo } from './registry.test-kit';

const env = stackEnv();

describe('featurelog plan / apply against Kafka and the schema registry', { timeout: 300_000 }, () => {
  let log: KafkaEventLog;
  let schemas: ConfluentSchemaRegistry;
  const repos: TempFeatureRepo[] = [];

  before(async () => {
    log = await KafkaEventLog.connect({ brokers: env.kafkaBrokers, clientId: 'registry-cli-int' });
    schemas = new ConfluentSchemaRegistry({ url: env.schemaRegistryUrl });
  });
  after(async () => {
    await log.close();
    await schemas.close();
    await Promise.all(repos.map((repo) => repo.dispose()));
  });

  async function newRepo(): Promise<TempFeatureRepo> {
    const repo = await TempFeatureRepo.create();
    repos.push(repo);
    return repo;
  }

  /** Offset the next registry event will get; 0 when the registry topic does not exist yet. */
  async function registryEnd(project: string): Promise<number> {
    const topic = topicNames.registry(project);
    if ((await log.describeTopic(topic)) === undefined) return 0;
    return (await log.endOffsets(topic)).get(0) ?? 0;
  }

  const viewTopic = (repo: TempFeatureRepo) => `${repo.project}.features.driver_stats`;

  it('plans (exit 2), applies, then plans nothing (exit 0); ls, describe and history read it back', async () => {
    const repo = await newRepo();
    const first = await repo.cli('plan');
    assert.equal(first.code, 2, explain(first));
    assert.match(first.stdout, /\+ entity driver\s+create/);
    assert.match(first.stdout, /\+ feature_view driver_stats\s+create, touches data \(topic, schema\)/);
    assert.match(first.stdout, /3 to create, 0 to update, 0 to delete, 0 unchanged\./);

    const applied = await repo.cli('apply');
    assert.equal(applied.code, 0, explain(applied));
    assert.match(applied.stdout, /Applied at offset 0: registry version 1\./);

    const again = await repo.cliJson<Plan>('plan');
    assert.equal(again.result.code, 0, explain(again.result));
    assert.equal(again.json.basedOnVersion, 1);
    assert.deepEqual(
      again.json.items.map((item) => `${item.action} ${item.kind}/${item.name}`),
      ['unchanged entity/driver', 'unchanged feature_view/driver_stats', 'unchanged feature_service/driver_activity'],
    );

    const views = await repo.cliJson<Array<{ name: string }>>('ls', 'feature-views');
    assert.deepEqual(
      views.json.map((view) => view.name),
      ['driver_stats'],
    );
    const described = await repo.cliJson<{ definition: { features: unknown[]; ttlSeconds: number } }>(
      'describe',
      'feature-view',
      'driver_stats',
    );
    assert.equal(described.json.definition.ttlSeconds, 7200);
    assert.equal(described.json.definition.features.length, 2);
    const readable = await repo.cli('describe', 'feature-view', 'driver_stats');
    // The readable form is the YAML's (issue #12): `ttl: 2h`, as driver_stats.yaml writes it.
    assert.match(readable.stdout, /^ttl: 2h$/m);
    assert.doesNotMatch(readable.stdout, /ttlSeconds/);

    await repo.writeView({ ...BASE_VIEW, description: 'per hour' });
    assert.equal((await repo.cli('apply')).code, 0);
    const history = await repo.cliJson<RegistryObjectVersion[]>('history', 'feature-view', 'driver_stats');
    assert.deepEqual(
      history.json.map((version) => [version.offset, version.op]),
      [
        [0, 'upsert'],
        [1, 'upsert'],
      ],
    );
    assert.ok(history.json.every((version) => version.appliedAt > 0 && version.applyId.length > 0));
  });

  it('creates the project and view topics with the partitions and configs declared in topics/', async () => {
    const repo = await newRepo();
    const applied = await repo.cli('apply');
    assert.equal(applied.code, 0, explain(applied));
    const declarations = await loadTopicDeclarations(join(REPO_ROOT, 'topics'));
    const expected = [
      ...(['registry', 'segments', 'jobs', 'dlq'] as const).map((family) =>
        topicSpecFor(declarations, family, repo.project),
      ),
      topicSpecFor(declarations, 'features', repo.project, 'driver_stats'),
    ];
    for (const spec of expected) {
      const described = await log.describeTopic(spec.name);
      assert.ok(described, `${spec.name} was created`);
      assert.equal(described.partitions, spec.partitions, `${spec.name} partitions`);
      for (const [name, value] of Object.entries(spec.config)) {
        assert.equal(described.config[name], value, `${spec.name} ${name}`);
      }
    }
  });

  it('applies a compatible schema change; plan reports retyping or removing a feature as breaking, apply refuses it, writing nothing', async () => {
    const repo = await newRepo();
    const first = await repo.cli('apply');
    assert.equal(first.code, 0, explain(first));
    const subject = valueSubject(viewTopic(repo));
    assert.equal((await schemas.latestVersion(subject))?.version, 1);

    await repo.writeView({ ...BASE_VIEW, features: [...BASE_VIEW.features, { name: 'acc_rate', type: 'float64' }] });
    const added = await repo.cli('apply');
    assert.equal(added.code, 0, explain(added));
    assert.match(added.stdout, /\+ features\[acc_rate\]/);
    assert.equal((await schemas.latestVersion(subject))?.version, 2, 'the new row schema is registered');
    const end = await registryEnd(repo.project);

    for (const [change, features] of [
      ['retype', [BASE_VIEW.features[0]!, { name: 'trips', type: 'string' }, { name: 'acc_rate', type: 'float64' }]],
      ['remove', [BASE_VIEW.features[1]!, { name: 'acc_rate', type: 'float64' }]],
    ] as const) {
      await repo.writeView({ ...BASE_VIEW, features: [...features] });
      const planned = await repo.cli('plan');
      assert.equal(planned.code, 1, `${change}: plan says breaking: ${explain(planned)}`);
      assert.match(
        planned.stdout,
        change === 'retype'
          ? /breaking: feature_view driver_stats: feature trips int64 → string is not backward compatible; give the view `version: 2` to start a new view version/
          : /breaking: feature_view driver_stats: feature conv_rate was removed/,
        change,
      );
      assert.doesNotMatch(planned.stdout, /\blong\b|\bdouble\b/, `${change}: in featurelog's type names`);
      const refused = await repo.cli('apply');
      assert.equal(refused.code, 1, `${change}: ${explain(refused)}`);
      assert.match(refused.stderr, /SCHEMA_INCOMPATIBLE/, change);
      assert.match(refused.stderr, change === 'retype' ? /trips/ : /conv_rate/, `${change} names the field`);
      assert.equal(await registryEnd(repo.project), end, `${change}: nothing appended to the registry log`);
      assert.equal((await schemas.latestVersion(subject))?.version, 2, `${change}: no schema registered`);
    }
  });

  it('is not blocked by a schema that a lost apply race registered but no accepted definition has', async () => {
    const repo = await newRepo();
    const first = await repo.cli('apply');
    assert.equal(first.code, 0, explain(first));
    const subject = valueSubject(viewTopic(repo));
    const latest = (await schemas.latestVersion(subject))!;
    const leaked = latest.schema as { fields: object[] };
    await schemas.register(subject, {
      ...leaked,
      fields: [...leaked.fields, { name: 'leaked', type: ['null', 'double'], default: null }],
    } as typeof latest.schema);
    await repo.writeView({ ...BASE_VIEW, features: [...BASE_VIEW.features, { name: 'trips_today', type: 'int64' }] });
    const applied = await repo.cli('apply');
    assert.equal(applied.code, 0, explain(applied));
    assert.equal((await schemas.latestVersion(subject))?.version, 3);
  });

  it('applies a metadata-only change without touching a schema version or a topic', async () => {
    const repo = await newRepo();
    const first = await repo.cli('apply');
    assert.equal(first.code, 0, explain(first));
    const subject = valueSubject(viewTopic(repo));
    const schemaBefore = await schemas.latestVersion(subject);
    const topicBefore = await log.describeTopic(viewTopic(repo));
    const metadataOnly = { ...BASE_VIEW, description: 'rates per hour', tags: { team: 'pricing' } };
    await repo.writeView(metadataOnly);

    const plan = await repo.cli('plan');
    assert.equal(plan.code, 2, explain(plan));
    assert.match(plan.stdout, /~ feature_view driver_stats\s+update, metadata only/);
    assert.match(plan.stdout, /~ description: "hourly driver statistics" → "rates per hour" {2}\(metadata\)/);
    assert.match(plan.stdout, /\+ tags: \{"team":"pricing"\} {2}\(metadata\)/);
    const applied = await repo.cliJson<{ applied: boolean; provisioned: unknown[] }>('apply');
    assert.equal(applied.result.code, 0, explain(applied.result));
    assert.equal(applied.json.applied, true);
    assert.deepEqual(applied.json.provisioned, []);
    assert.deepEqual(await schemas.latestVersion(subject), schemaBefore);
    assert.deepEqual(await log.describeTopic(viewTopic(repo)), topicBefore);
  });

  it('of two concurrent applies planned on one version exactly one wins; the other succeeds after re-planning', async () => {
    const repo = await newRepo();
    assert.equal((await repo.cli('apply')).code, 0);
    // Two reviewers each save a plan made against the same registry version.
    await repo.writeView({ ...BASE_VIEW, description: 'plan a' });
    const planA = join(repo.dir, 'a.plan.json');
    assert.equal((await repo.cli('plan', '--out', planA)).code, 2);
    await repo.writeView({ ...BASE_VIEW, features: [...BASE_VIEW.features, { name: 'acc_rate', type: 'float64' }] });
    const planB = join(repo.dir, 'b.plan.json');
    assert.equal((await repo.cli('plan', '--out', planB)).code, 2);

    const [a, b] = await Promise.all([repo.cli('apply', planA), repo.cli('apply', planB)]);
    const winners = [a, b].filter((result) => result.code === 0);
    const losers = [a, b].filter((result) => result.code !== 0);
    assert.equal(winners.length, 1, `exactly one wins:\n${explain(a)}\n${explain(b)}`);
    assert.equal(losers[0]!.code, 1);
    assert.match(losers[0]!.stderr, /REGISTRY_VERSION_CONFLICT: .*planned against version 1, now 2.*run plan again/);
    assert.equal((await registryEnd(repo.project)) >= 2, true);

    // The loser's change, re-planned on top of the winner's, goes through.
    const loserWasA = a.code !== 0;
    await repo.writeView({
      ...BASE_VIEW,
      description: 'plan a',
      features: [...BASE_VIEW.features, { name: 'acc_rate', type: 'float64' }],
    });
    const replanned = await repo.cli('plan');
    assert.equal(replanned.code, 2, explain(replanned));
    assert.match(replanned.stdout, /against registry version 2:/);
    const retried = await repo.cli('apply');
    assert.equal(retried.code, 0, explain(retried));
    // A saved plan whose registry moved on is refused before anything is provisioned or written.
    const end = await registryEnd(repo.project);
    const stale = await repo.cli('apply', loserWasA ? planB : planA);
    assert.equal(stale.code, 1, explain(stale));
    assert.match(stale.stderr, /REGISTRY_VERSION_CONFLICT/);
    assert.equal(await registryEnd(repo.project), end);
  });

  it('reports every problem of broken definition files with file, line and field, exit 1, and applies nothing', async () => {
    const repo = await newRepo();
    await repo.write('broken.yaml', 'kind: entity\nname: rider\njoin_keys: [\n');
    await repo.write(
      'views.yaml',
      [
        'kind: feature_view',
        'name: rider_stats',
        'entities: [rider_typo]',
        'ttl: forever',
        'colour: blue',
        'features:',
        '  - name: score',
        '    type: decimal',
        '---',
        'kind: entity',
        'name: driver',
        'join_keys:',
        '  - name: driver_id',
        '    type: int64',
        '',
      ].join('\n'),
    );
    for (const command of ['plan', 'apply']) {
      const result = await repo.cli(command);
      assert.equal(result.code, 1, `${command}: ${explain(result)}`);
      assert.match(result.stderr, /DEFINITIONS_INVALID/);
      const expected: Array<[string, RegExp]> = [
        ['syntax error', /broken\.yaml:\d+/],
        ['unknown field', /views\.yaml:5: .*colour/],
        ['bad TTL', /views\.yaml:4: .*ttl/],
        ['bad type', /views\.yaml:8: .*features\[0\]\.type/],
        ['unknown entity', /views\.yaml:3: .*entities\[0\].*rider_typo/],
        ['duplicate name', /views\.yaml:1[01]: .*driver/],
      ];
      for (const [what, pattern] of expected) assert.match(result.stderr, pattern, `${command} reports the ${what}`);
    }
    assert.equal(await registryEnd(repo.project), 0, 'nothing was applied');
    assert.equal(await log.describeTopic(viewTopic(repo)), undefined);
  });

  it('fails a plan with exit 1 when the log cannot be reached', async () => {
    const repo = await newRepo();
    const config = await readFile(join(repo.dir, 'featurelog.yaml'), 'utf8');
    await repo.write('featurelog.yaml', config.replace(/brokers: .*/, 'brokers: 127.0.0.1:1'));
    const result = await repo.cli('--json', 'plan');
    assert.equal(result.code, 1, explain(result));
    // kafkajs logs its connection errors on stderr too; the CLI's own report is one JSON object among them.
    const report = /^\{\n {2}"error"[\s\S]*?^\}$/m.exec(result.stderr);
    assert.ok(report, explain(result));
    const { error } = JSON.parse(report[0]) as { error: { code: string; message: string } };
    assert.equal(error.code, 'LOG_UNAVAILABLE');
    assert.match(error.message, /127\.0\.0\.1:1/);
  });
});

describe('the featurelog command after npm install', { timeout: 120_000 }, () => {
  let consumer: string;
  before(async () => {
    consumer = await mkdtemp(join(tmpdir(), 'featurelog-consumer-'));
    await writeFile(join(consumer, 'package.json'), '{ "name": "consumer", "version": "1.0.0", "private": true }\n');
  });
  after(() => rm(consumer, { recursive: true, force: true }));

  it('runs through npx from another project folder', async () => {
    const run = promisify(execFile);
    await run('npm', ['install', '--no-save', '--offline', '--no-audit', '--no-fund', REPO_ROOT], { cwd: consumer });
    const { stdout } = await run('npx', ['--no-install', 'featurelog', '--help'], { cwd: consumer });
    assert.match(stdout, /Usage: featurelog/);
    assert.match(stdout, /plan \[options\]/);
  });
});
