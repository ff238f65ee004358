import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertValidRow,
  MAX_TIMESTAMP_MICROS,
  validateFeatureValue,
  validateRow,
  type JoinKey,
} from '@featurelog/domain';

describe('validateFeatureValue', () => {
  it('accepts values of the type and null', () => {
    const valid: Array<[Parameters<typeof validateFeatureValue>[0], unknown]> = [
      ['bool', false],
      ['int32', -(2 ** 31)],
      ['int64', Number.MAX_SAFE_INTEGER],
      ['float32', 1.5],
      ['float64', Number.NaN],
      ['string', ''],
      ['bytes', new Uint8Array(2)],
      ['timestamp', 0],
      ['list<int64>', [1, 2]],
      ['list<string>', []],
      ['float64', null],
    ];
    for (const [type, value] of valid)
      assert.equal(validateFeatureValue(type, value), undefined, `${type} ${String(value)}`);
  });

  it('names the field and the expected form', () => {
    assert.equal(
      validateFeatureValue('int64', 1.5, 'trips'),
      'trips must be a safe integer (|n| <= 2^53 - 1) (int64), got number 1.5',
    );
    assert.equal(
      validateFeatureValue('int32', 2 ** 31, 'n'),
      'n must be an integer in -2^31..2^31-1 (int32), got number 2147483648',
    );
    assert.match(validateFeatureValue('float32', 1e39, 'f')!, /float32 range/);
    assert.match(validateFeatureValue('string', 5, 's')!, /^s must be a string \(string\), got number 5$/);
    assert.match(validateFeatureValue('bytes', 'aa', 'b')!, /Uint8Array/);
    assert.equal(
      validateFeatureValue('list<int64>', [1, 'x'], 'l'),
      'l[1] must be a safe integer (|n| <= 2^53 - 1) (int64), got string "x"',
    );
    assert.equal(
      validateFeatureValue('list<int64>', [1, null], 'l'),
      'l[1] must not be null (elements of a list<int64> are non-null)',
    );
    assert.match(validateFeatureValue('list<int64>', 1, 'l')!, /must be a list of int64/);
    assert.match(validateFeatureValue('timestamp', -1, 't')!, /outside years 1970..9999/);
  });
});

describe('validateRow', () => {
  const view = {
    name: 'driver_hourly_stats',
    features: [
      { name: 'conv_rate', type: 'float64' as const },
      { name: 'trips', type: 'int64' as const },
    ],
  };
  const joinKeys: JoinKey[] = [{ name: 'driver_id', type: 'int64' }];

  it('accepts a complete row and a row with absent features', () => {
    assert.deepEqual(
      validateRow(view, joinKeys, { driver_id: 1, event_timestamp: 1_700_000_000_000_000, conv_rate: 0.5, trips: 3 }),
      [],
    );
    assert.deepEqual(
      validateRow(view, joinKeys, { driver_id: 1, event_timestamp: MAX_TIMESTAMP_MICROS, created_timestamp: null }),
      [],
    );
  });

  it('reports every problem naming its field', () => {
    const problems = validateRow(
      view,
      joinKeys,
      { event_timestamp: 1_700_000_000_000, created_timestamp: 1.5, conv_rate: '0.5', trips: 3, extra: 1 },
      { rejectUnknownFields: true },
    );
    assert.deepEqual(
      problems.map((p) => [p.field, p.code]),
      [
        ['driver_id', 'MISSING_JOIN_KEY'],
        ['created_timestamp', 'INVALID_TIMESTAMP'],
        ['conv_rate', 'INVALID_VALUE'],
        ['extra', 'UNKNOWN_FIELD'],
      ],
    );
    const tooLate = validateRow(view, joinKeys, { driver_id: 'x', event_timestamp: 1.7e18 });
    assert.deepEqual(
      tooLate.map((p) => p.field),
      ['driver_id', 'event_timestamp'],
    );
    assert.match(tooLate[1]!.message, /outside years 1970..9999/);
    assert.throws(() => assertValidRow(view, joinKeys, { driver_id: 1 }), {
      code: 'INVALID_ROW',
      message: /event_timestamp/,
    });
  });
});
