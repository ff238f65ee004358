import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  checkDefinitionDocument,
  checkProjectDocument,
  definitionSchema,
  parseDurationSeconds,
} from '@featurelog/config';
import { DEFINITION_KINDS, JOIN_KEY_TYPES, NAME_PATTERN, parseValueType, SCALAR_TYPES } from '@featurelog/domain';

const EXAMPLE = join(__dirname, '../../../examples/drivers');

describe('published schemas', () => {
  it('agree with the domain on kinds, names, join key types and value types', () => {
    const defs = definitionSchema.$defs;
    assert.deepEqual(definitionSchema.properties.kind.enum, DEFINITION_KINDS);
    assert.equal(defs.name.pattern, NAME_PATTERN.source);
    assert.deepEqual(defs.joinKeyType.enum, JOIN_KEY_TYPES);
    const pattern = new RegExp(defs.valueType.pattern);
    const candidates = [
      ...SCALAR_TYPES,
      ...SCALAR_TYPES.map((t) => `list<${t}>`),
      'decimal',
      'list<list<int64>>',
      'list<>',
      'INT64',
      '',
    ];
    for (const type of candidates) assert.equal(pattern.test(type), parseValueType(type) !== undefined, type);
  });

  it('accept every document of the example repo', () => {
    for (const file of readdirSync(EXAMPLE).filter((f) => f.endsWith('.yaml'))) {
      const text = readFileSync(join(EXAMPLE, file), 'utf8');
      for (const document of parseAllDocuments(text) as ReturnType<typeof parseAllDocuments> & unknown[]) {
        const value: unknown = document.toJS();
        const violations = file === 'featurelog.yaml' ? checkProjectDocument(value) : checkDefinitionDocument(value);
        assert.deepEqual(violations, [], file);
      }
    }
  });

  it('refuse bad definition documents, saying where', () => {
    const cases: Array<[unknown, Array<[string, string, string]>]> = [
      ['just text', [['WRONG_TYPE', '', 'the document must be an object, got "just text"']]],
      [{ name: 'x' }, [['MISSING_FIELD', 'kind', 'is required']]],
      [
        { kind: 'entity', name: 'e', join_keys: [{ name: 'id' }] },
        [['MISSING_FIELD', 'join_keys.0.type', 'is required in join_keys.0']],
      ],
      [
        { kind: 'entity', name: 'e', joinKeys: [] },
        [
          ['MISSING_FIELD', 'join_keys', 'is required'],
          [
            'UNKNOWN_FIELD',
            'joinKeys',
            'unknown field "joinKeys"; allowed here: kind, name, join_keys, description, tags, owner',
          ],
        ],
      ],
      [
        { kind: 'data_source', name: 's', type: 'kafka', timestamp_field: 'ts' },
        [['MISSING_FIELD', 'topic', 'is required']],
      ],
      [
        { kind: 'data_source', name: 's', type: 'managed', topic: 't' },
        [['UNKNOWN_FIELD', 'topic', 'unknown field "topic"; allowed here: kind, name, type, description, tags, owner']],
      ],
      [
        { kind: 'data_source', name: 's', type: 'file', path: 'a.csv', format: 'xls', timestamp_field: '' },
        [
          ['INVALID_VALUE', 'format', 'must be one of parquet, csv, got "xls"'],
          ['INVALID_VALUE', 'timestamp_field', 'must be at least 1 character(s) long'],
        ],
      ],
      [
        {
          kind: 'feature_view',
          name: 'v',
          entities: 'driver',
          features: [{ name: 'f', type: 'int64' }],
          online: 'yes',
        },
        [
          ['WRONG_TYPE', 'entities', 'must be an array, got "driver"'],
          ['WRONG_TYPE', 'online', 'must be a boolean, got "yes"'],
        ],
      ],
      [
        { kind: 'feature_view', name: 'v', entities: ['d'], features: [], ttl: -1 },
        [
          ['INVALID_VALUE', 'features', 'must have at least 1 item(s)'],
          [
            'INVALID_VALUE',
            'ttl',
            'must be a whole number of seconds >= 0, or a duration like 2h, 90m, 1d12h (units w d h m s, in that order), got -1',
          ],
        ],
      ],
      [
        { kind: 'feature_service', name: 's', features: ['v:f'], tags: { team: 5 } },
        [['WRONG_TYPE', 'tags.team', 'must be a string, got 5']],
      ],
    ];
    for (const [document, expected] of cases) {
      const violations = checkDefinitionDocument(document).map((v) => [v.code, v.path.join('.'), v.message]);
      assert.deepEqual(violations, expected, JSON.stringify(document));
    }
  });
});

describe('parseDurationSeconds', () => {
  it('reads seconds and unit durations', () => {
    const cases: Array<[number | string, number]> = [
      [0, 0],
      ['0', 0],
      [7200, 7200],
      ['7200', 7200],
      ['2h', 7200],
      ['90m', 5400],
      ['1d12h', 129_600],
      ['1w', 604_800],
      ['1h0m30s', 3630],
    ];
    for (const [text, seconds] of cases) assert.equal(parseDurationSeconds(text), seconds, String(text));
  });

  it('refuses anything else', () => {
    for (const text of ['', '2 hours', '1h1d', '-5', 1.5, -1, '2H', 2 ** 60]) {
      assert.throws(() => parseDurationSeconds(text), { code: 'INVALID_DURATION' }, String(text));
    }
  });
});
