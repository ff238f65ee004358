import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDefinitions, parseDefinitionTexts, readDefinitions } from '@featurelog/config';
import { DefinitionsInvalidError, validateDefinitions, type DefinitionProblem } from '@featurelog/domain';

const EXAMPLE = join(__dirname, '../../../examples/drivers');
const brief = (problems: DefinitionProblem[]) => problems.map((p) => `${p.file}:${p.line} ${p.code} ${p.field ?? ''}`);

describe('loadDefinitions', () => {
  it('reads the example repo into valid domain definitions', async () => {
    const definitions = await loadDefinitions(EXAMPLE);
    assert.deepEqual(
      definitions.map((d) => `${d.kind}/${d.definition.name} ${d.file.replace(EXAMPLE, '')}:${d.line}`),
      [
        'feature_view/driver_hourly_stats /driver_stats.yaml:2',
        'entity/driver /entities.yaml:2',
        'feature_service/driver_activity /services.yaml:2',
      ],
    );
    assert.deepEqual(validateDefinitions(definitions), []);
    const view = definitions.find((d) => d.kind === 'feature_view')!.definition;
    assert.deepEqual(view, {
      name: 'driver_hourly_stats',
      version: 1,
      entities: ['driver'],
      ttlSeconds: 7200,
      online: true,
      offline: true,
      description: "Hourly driver statistics, written to the view's own topic drivers.features.driver_hourly_stats.",
      tags: { team: 'driver-performance' },
      features: [
        { name: 'conv_rate', type: 'float64', description: 'Share of ride offers the driver converted.' },
        { name: 'acc_rate', type: 'float64', description: 'Share of ride offers the driver accepted.' },
        { name: 'avg_daily_trips', type: 'int64' },
      ],
    });
  });

  describe('on a repo folder', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'featurelog-defs-'));
      await mkdir(join(dir, 'nested'));
      await mkdir(join(dir, '.featurelog'));
      await writeFile(join(dir, 'featurelog.yaml'), 'project: x\n');
      await writeFile(join(dir, '.featurelog', 'junk.yaml'), 'not: [valid');
      await writeFile(join(dir, 'notes.txt'), 'kind: entity');
      await writeFile(
        join(dir, 'nested', 'all.yml'),
        [
          'kind: entity',
          'name: rider',
          'join_keys: [{ name: rider_id, type: string }]',
          '---',
          '# only a comment',
          '---',
          'kind: data_source',
          'name: rides',
          'type: kafka',
          'topic: app.rides',
          'timestamp_field: ts',
          'created_timestamp_field: written_at',
          'field_mapping: { rider: rider_id, fare: fare_amount }',
          '---',
          'kind: feature_view',
          'name: rider_fares',
          'version: 2',
          'entities: [rider]',
          'source: rides',
          'ttl: 1d12h',
          'online: false',
          'partitions: 6',
          'features:',
          '  - { name: fare_amount, type: float32 }',
          '  - { name: recent, type: "list<int64>" }',
          '',
        ].join('\n'),
      );
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('reads every yaml file recursively, skipping featurelog.yaml, hidden folders and other files', async () => {
      const { definitions, problems, files } = await readDefinitions(dir);
      assert.deepEqual(problems, []);
      assert.deepEqual(files, [join(dir, 'nested', 'all.yml')]);
      assert.deepEqual(
        definitions.map((d) => [d.kind, d.line]),
        [
          ['entity', 1],
          ['data_source', 7],
          ['feature_view', 15],
        ],
      );
      assert.deepEqual(definitions[1]!.definition, {
        name: 'rides',
        kind: 'kafka',
        topic: 'app.rides',
        timestampField: 'ts',
        createdTimestampField: 'written_at',
        fieldMapping: { rider: 'rider_id', fare: 'fare_amount' },
      });
      const view = definitions[2]!.definition as {
        ttlSeconds: number;
        version: number;
        online: boolean;
        partitions: number;
      };
      assert.deepEqual([view.ttlSeconds, view.version, view.online, view.partitions], [129_600, 2, false, 6]);
    });
  });
});

describe('definition file problems', () => {
  it('reports syntax, structure and semantic problems together, each with file, line and field', () => {
    const entities = [
      'kind: entity', // 1
      'name: driver', // 2
      'join_keys:', // 3
      '  - name: driver_id', // 4
      '    type: float64', // 5
      'colour: red', // 6
      '---', // 7
      'kind: entity', // 8
      'name: driver', // 9
      'join_keys: [{ name: driver_id, type: int64 }]', // 10
    ].join('\n');
    const views = [
      'kind: feature_view', // 1
      'name: stats', // 2
      'entities: [driver, car]', // 3
      'ttl: 2 hours', // 4
      'features:', // 5
      '  - name: rate', // 6
      '    type: decimal', // 7
      '  - name: driver_id', // 8
      '    type: int64', // 9
      '---', // 10
      'kind: feature_view', // 11
      'name: trips', // 12
      'entities: [car]', // 13
      'version: 0', // 14
      'features:', // 15
      '  - name: trips', // 16
      '    type: int64', // 17
      '  - name: event_timestamp', // 18
      '    type: timestamp', // 19
      '---', // 20
      'kind: feature_service', // 21
      'name: svc', // 22
      'features: [stats:rate, trips:*, ghost:x, nope]', // 23
      '---', // 24
      'kind: feature_table', // 25
      'name: x', // 26
    ].join('\n');
    const broken = 'kind: entity\nname: [unclosed\n';
    const { problems } = parseDefinitionTexts([
      { file: 'entities.yaml', text: entities },
      { file: 'views.yaml', text: views },
      { file: 'broken.yaml', text: broken },
    ]);
    assert.deepEqual(brief(problems), [
      'broken.yaml:3 YAML_SYNTAX ',
      'entities.yaml:5 INVALID_VALUE join_keys[0].type',
      'entities.yaml:6 UNKNOWN_FIELD colour',
      'entities.yaml:9 DUPLICATE_NAME name',
      'views.yaml:3 UNKNOWN_REFERENCE entities[1]',
      'views.yaml:4 INVALID_VALUE ttl',
      'views.yaml:7 INVALID_VALUE features[0].type',
      'views.yaml:8 NAME_COLLISION features[1].name',
      'views.yaml:13 UNKNOWN_REFERENCE entities[0]',
      'views.yaml:14 INVALID_VALUE version',
      'views.yaml:18 NAME_COLLISION features[1].name',
      'views.yaml:23 UNKNOWN_REFERENCE features[2]',
      'views.yaml:23 INVALID_VALUE features[3]',
      'views.yaml:25 INVALID_VALUE kind',
    ]);
    const byField = (field: string) => problems.find((p) => p.field === field)!;
    if (process.env.SHOW_PROBLEMS) console.log(new DefinitionsInvalidError(problems).message);
    assert.match(byField('colour').message, /unknown field "colour"; allowed here: kind, name, join_keys/);
    assert.match(
      byField('ttl').message,
      /^must be a whole number of seconds >= 0, or a duration like 2h, 90m, 1d12h \(units w d h m s, in that order\), got "2 hours"$/,
    );
    assert.match(
      byField('join_keys[0].type').message,
      /must be one of bool, int32, int64, string, bytes, got "float64"/,
    );
    const collision = problems.find((p) => p.line === 18)!;
    assert.deepEqual([collision.kind, collision.name], ['feature_view', 'trips']);
    assert.match(collision.message, /"event_timestamp" is reserved/);
  });

  it("reads a kafka source's format, defaulting Debezium's event time, and names a bad one with file and line", () => {
    const sources = [
      'kind: data_source', // 1
      'name: orders_avro', // 2
      'type: kafka', // 3
      'topic: shop.orders', // 4
      'timestamp_field: ts', // 5
      '---', // 6
      'kind: data_source', // 7
      'name: orders_cdc', // 8
      'type: kafka', // 9
      'topic: pg.public.orders', // 10
      'format: debezium', // 11
      'field_mapping: { id: order_id }', // 12
      '---', // 13
      'kind: data_source', // 14
      'name: orders_flat', // 15
      'type: kafka', // 16
      'topic: pg.flat.orders', // 17
      'format: debezium-unwrapped', // 18
      '---', // 19
      'kind: data_source', // 20
      'name: orders_bad', // 21
      'type: kafka', // 22
      'topic: x.orders', // 23
      'format: protobuf', // 24
      'timestamp_field: ts', // 25
      '---', // 26
      'kind: data_source', // 27
      'name: orders_json', // 28
      'type: kafka', // 29
      'topic: y.orders', // 30
      'format: connect-json', // 31
      'subject: y.orders-value', // 32
      'timestamp_field: ts', // 33
      '---', // 34
      'kind: data_source', // 35
      'name: orders_cdc_ts', // 36
      'type: kafka', // 37
      'topic: pg.public.orders2', // 38
      'format: debezium', // 39
      'timestamp_field: updated_at', // 40
      '---', // 41
      'kind: data_source', // 42
      'name: orders_no_ts', // 43
      'type: kafka', // 44
      'topic: z.orders', // 45
      'format: json', // 46
    ].join('\n');
    const { definitions, problems } = parseDefinitionTexts([{ file: 'sources.yaml', text: sources }]);
    assert.deepEqual(brief(problems), [
      'sources.yaml:24 INVALID_VALUE format',
      'sources.yaml:32 INVALID_VALUE subject',
      'sources.yaml:40 INVALID_VALUE timestamp_field',
      'sources.yaml:42 MISSING_FIELD timestamp_field',
    ]);
    assert.match(problems[0]!.message, /avro, connect-json, json, debezium, debezium-unwrapped/);
    assert.match(problems[2]!.message, /source\.ts_ms; got "updated_at"/);
    const byName = new Map(definitions.map((d) => [d.definition.name, d.definition]));
    // No format is what a kafka source always meant: Confluent Avro.
    assert.deepEqual(byName.get('orders_avro'), {
      name: 'orders_avro',
      kind: 'kafka',
      topic: 'shop.orders',
      timestampField: 'ts',
    });
    assert.deepEqual(byName.get('orders_cdc'), {
      name: 'orders_cdc',
      kind: 'kafka',
      topic: 'pg.public.orders',
      format: 'debezium',
      timestampField: 'source.ts_ms',
      fieldMapping: { id: 'order_id' },
    });
    assert.equal((byName.get('orders_flat') as { timestampField?: string }).timestampField, '__source_ts_ms');
  });

  it('reports a YAML alias bomb as a problem of its file and line, not an unexpected error', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) {
      const previous = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const bomb = ['kind: entity', 'name: driver', 'join_keys: [{ name: driver_id, type: int64 }]', ...levels].join(
      '\n',
    );
    const { problems, definitions } = parseDefinitionTexts([{ file: 'bomb.yaml', text: bomb }]);
    assert.equal(definitions.length, 0);
    assert.deepEqual(
      problems.map(({ code, file, line }) => ({ code, file, line })),
      [{ code: 'YAML_SYNTAX', file: 'bomb.yaml', line: 5 }],
    );
    assert.match(problems[0]!.message, /cannot expand the YAML aliases .*Excessive alias count/);
  });

  it('does not echo references to a definition already refused for its structure', () => {
    const { problems } = parseDefinitionTexts([
      {
        file: 'a.yaml',
        text: 'kind: entity\nname: driver\njoin_keys: []\n---\nkind: feature_view\nname: v\nentities: [driver]\nfeatures: [{ name: f, type: int64 }]\n',
      },
    ]);
    assert.deepEqual(brief(problems), ['a.yaml:3 INVALID_VALUE join_keys']);
  });

  it('maps domain fields back to the YAML names (join_keys, ttl, field_mapping, type)', () => {
    const { problems } = parseDefinitionTexts([
      {
        file: 'a.yaml',
        text: [
          'kind: entity',
          'name: e',
          'join_keys: [{ name: k, type: int64 }, { name: k, type: int64 }]',
          '---',
          'kind: data_source',
          'name: s',
          'type: kafka',
          'topic: t',
          'timestamp_field: ts',
          'field_mapping:',
          '  aCol: f',
          '  bCol: nothing',
          '---',
          'kind: feature_view',
          'name: v',
          'source: s',
          'entities: [e]',
          'ttl: 99999999999999999999',
          'features: [{ name: f, type: int64 }]',
          '',
        ].join('\n'),
      },
    ]);
    assert.deepEqual(brief(problems), [
      'a.yaml:3 DUPLICATE_NAME join_keys[1].name',
      'a.yaml:12 INVALID_FIELD_MAPPING field_mapping.bCol',
      'a.yaml:18 INVALID_TTL ttl',
    ]);
    assert.match(problems[2]!.message, /got 100000000000000000000/);
  });

  it('throws one DEFINITIONS_INVALID error listing every problem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'featurelog-bad-'));
    try {
      await writeFile(
        join(dir, 'a.yaml'),
        'kind: entity\nname: Driver\njoin_keys: [{ name: id, type: int64 }]\nextra: 1\n',
      );
      await assert.rejects(loadDefinitions(dir), (error: unknown) => {
        assert.ok(error instanceof DefinitionsInvalidError);
        assert.equal(error.code, 'DEFINITIONS_INVALID');
        assert.equal(error.problems.length, 2);
        assert.match(
          error.message,
          /a\.yaml:2: entity Driver, name: must be lower-case letters, digits and underscores, starting with a letter \(\^\[a-z\]\[a-z0-9_\]\*\$\), got "Driver"/,
        );
        assert.match(error.message, /a\.yaml:4: entity Driver, extra: unknown field "extra"/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
