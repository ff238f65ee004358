import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareRowVersions, FeaturelogError, type FeatureValue, type RowVersion } from '@featurelog/domain';
import { seededRandom } from '@featurelog/testing';
import { MsgpackWriter } from './msgpack-writer';
import type { OnlineRow } from './online-store.port';
import { encodeStoredValue } from './stored-feature-value';
import {
  allStoredTexts,
  decodeNames,
  decodeVersion,
  DELETED_NAMES,
  encodeVersionDigits,
  encodeViewValue,
  storedSpansAt,
  storedText,
  viewValueParts,
  writeViewValue,
} from './view-value';

const MAX = Number.MAX_SAFE_INTEGER;
const timestamps = [-MAX, -(2 ** 52) - 1, -1_000_001, -1, 0, 1, 9, 10, 1_700_000_000_000_000, MAX - 1, MAX];
const naturals = [0, 1, 9, 10, 2_147_483_647, 2 ** 50, MAX];
// One source per view: one width. Absent ranks below every present position.
const sourcePositions = [undefined, '0000000000', '0000000001', '0000000010', '9999999999'];

function randomVersion(random: () => number): RowVersion {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  const version: RowVersion = {
    eventTimestamp: pick(timestamps),
    createdTimestamp: random() < 0.3 ? null : pick(timestamps),
    position: { partition: pick(naturals), offset: pick(naturals) },
  };
  const source = pick(sourcePositions);
  if (source !== undefined) version.sourcePosition = source;
  return version;
}

/** The layout of view-value.ts restated from its parts: version digits, flag, names, texts. */
function encode(version: RowVersion, names: string, texts: string[], expiring = false): Buffer {
  const writer = new MsgpackWriter(16);
  writer.latin1(encodeVersionDigits(version));
  writer.latin1(expiring ? 'e' : 'p');
  writer.lengthPrefixedUtf8(names);
  for (const text of texts) writer.lengthPrefixedUtf8(text);
  return Buffer.from(writer.bytes());
}

/** Values of every kind, and the edges of the shortcuts that write them without their text. */
const featureValues: FeatureValue[] = [
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  9,
  10,
  -10,
  99_999_999,
  100_000_000,
  123_456_789_012,
  -MAX,
  MAX,
  2 ** 53,
  -(2 ** 53),
  1e21,
  1.5,
  -0.0070210631895687,
  1e-7,
  NaN,
  Infinity,
  -Infinity,
  '',
  'v123',
  'é🌍',
  'x'.repeat(41),
  'x'.repeat(42),
  'x'.repeat(300),
  'ascii then é'.repeat(4),
  new Uint8Array([0, 7, 255]),
  [1.5, 2, null, 'a'],
  [NaN, -0, new Uint8Array([1])],
];

describe('stored view value', () => {
  it('is written, version and values straight into the writer, byte for byte as its digits and texts say', () => {
    const random = seededRandom(12);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const writer = new MsgpackWriter(16);
    for (let i = 0; i < 2_000; i++) {
      const count = Math.floor(random() * 12);
      const features: Record<string, FeatureValue> = {};
      for (let f = 0; f < count; f++) features[`f${f}`] = pick(featureValues);
      const row: OnlineRow = { project: 'p', entityKey: 'k', view: 'v', version: randomVersion(random), features };
      if (random() < 0.5) row.ttlSeconds = 60;
      const deleted = random() < 0.1;
      if (deleted) {
        row.deleted = true;
        row.features = {};
      }
      const names = Object.keys(row.features);
      const texts = names.map((name) => encodeStoredValue(row.features[name]!));
      const expected = encode(row.version, deleted ? DELETED_NAMES : names.join(','), texts, row.ttlSeconds === 60);
      assert.deepEqual(encodeViewValue(row), expected, JSON.stringify(row));
      writer.reset();
      writeViewValue(writer, row, deleted ? DELETED_NAMES : names.join(','));
      assert.deepEqual(Buffer.from(writer.bytes()), expected);
    }
  });

  it('orders versions as compareRowVersions does, by plain comparison of the digits', () => {
    const random = seededRandom(4);
    for (let i = 0; i < 5_000; i++) {
      const a = randomVersion(random);
      const b = random() < 0.2 ? { ...a, position: { ...a.position } } : randomVersion(random);
      const [da, db] = [encodeVersionDigits(a), encodeVersionDigits(b)];
      assert.match(da, /^[0-9]+$/);
      const byText = da < db ? -1 : da > db ? 1 : 0;
      assert.equal(byText, Math.sign(compareRowVersions(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  });

  it('puts the source position between the timestamps and the log position, absent lowest', () => {
    const base = { eventTimestamp: 5, createdTimestamp: 1, position: { partition: 9, offset: 99 } };
    const absent = encodeVersionDigits(base);
    const low = encodeVersionDigits({ ...base, sourcePosition: '0001', position: { partition: 0, offset: 0 } });
    const high = encodeVersionDigits({ ...base, sourcePosition: '0002', position: { partition: 0, offset: 0 } });
    assert.ok(absent < low && low < high);
    assert.equal(absent.length, 68);
    assert.equal(low.slice(34, 40), '040001');
  });

  it('decodes what it encodes: version, names, texts, the wanted texts alone', () => {
    const random = seededRandom(9);
    for (let i = 0; i < 500; i++) {
      const version = randomVersion(random);
      const texts = ['', '1.5', 's' + 'é🌍'.repeat(Math.floor(random() * 80)), 'x'.repeat(Math.floor(random() * 300))];
      const value = encode(version, 'a,b,c,d', texts, random() < 0.5);
      const parts = viewValueParts(value);
      assert.deepEqual(decodeVersion(value, parts.versionEnd), version);
      assert.equal(parts.deleted, false);
      assert.deepEqual(decodeNames(value, parts), ['a', 'b', 'c', 'd']);
      assert.deepEqual(allStoredTexts(value, parts, 4), texts);
      const spans = new Int32Array(10).fill(-7);
      storedSpansAt(value, parts, Int32Array.from([3, -1, 1]), 3, spans, 4);
      const read = { version, bytes: value, spans, at: 4 };
      assert.deepEqual(
        [0, 1, 2].map((k) => storedText(read, k)),
        [texts[3], '', texts[1]],
      );
      assert.deepEqual([...spans.subarray(0, 4)], [-7, -7, -7, -7], 'nothing written before `at`');
    }
  });

  it('marks a delete by its names, keeping its version', () => {
    const version = {
      eventTimestamp: 1,
      createdTimestamp: null,
      sourcePosition: '7',
      position: { partition: 0, offset: 2 },
    };
    const value = encode(version, DELETED_NAMES, []);
    const parts = viewValueParts(value);
    assert.equal(parts.deleted, true);
    assert.deepEqual(decodeVersion(value, parts.versionEnd), version);
    assert.equal(viewValueParts(encode(version, '', [])).deleted, false, 'a row without features is no delete');
  });

  it('refuses bytes that are no stored value, naming what it expected', () => {
    const corrupt = (value: Buffer) =>
      assert.throws(
        () => {
          const parts = viewValueParts(value);
          allStoredTexts(value, parts, decodeNames(value, parts).length);
        },
        (error: unknown) => error instanceof FeaturelogError && error.code === 'ONLINE_STORE_CORRUPT',
      );
    corrupt(Buffer.from('1|2|3|a,b'));
    corrupt(Buffer.from('0'.repeat(68) + 'x'));
    const whole = encode({ eventTimestamp: 1, createdTimestamp: null, position: { partition: 0, offset: 0 } }, 'a,b', [
      '1',
      '22',
    ]);
    corrupt(whole.subarray(0, whole.length - 1));
  });
});
