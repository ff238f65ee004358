import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  formatDurationSeconds,
  loadDefinitions,
  parseDefinitionTexts,
  parseDurationSeconds,
  toYamlDefinition,
} from '@featurelog/config';

const EXAMPLE = join(__dirname, '../../../examples/drivers');

describe('formatDurationSeconds', () => {
  it('writes seconds with the largest units that divide them, 0 (unbounded) as 0', () => {
    assert.equal(formatDurationSeconds(7200), '2h');
    assert.equal(formatDurationSeconds(5400), '1h30m');
    assert.equal(formatDurationSeconds(129_600), '1d12h');
    assert.equal(formatDurationSeconds(1_209_601), '2w1s');
    assert.equal(formatDurationSeconds(59), '59s');
    assert.equal(formatDurationSeconds(0), 0);
  });

  it('is the inverse of parseDurationSeconds', () => {
    for (const seconds of [0, 1, 60, 61, 3599, 3600, 86_399, 86_400, 604_800, 999_999_999]) {
      assert.equal(parseDurationSeconds(formatDurationSeconds(seconds)), seconds);
    }
  });

  it('refuses what is no duration', () => {
    assert.throws(() => formatDurationSeconds(-1), { code: 'INVALID_DURATION' });
    assert.throws(() => formatDurationSeconds(1.5), { code: 'INVALID_DURATION' });
  });
});

describe('toYamlDefinition', () => {
  it('gives back each definition of the example as its file writes it', async () => {
    for (const located of await loadDefinitions(EXAMPLE)) {
      const { file, line: _line, ...tagged } = located;
      const written = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      const yaml = toYamlDefinition(tagged);
      // Defaults the reader fills in (version 1, online, offline) are shown; everything written is as written.
      for (const [field, value] of Object.entries(written)) assert.deepEqual(yaml[field], value, `${file}: ${field}`);
      assert.ok(!Object.keys(yaml).some((field) => /[A-Z]/.test(field)), `camelCase field in ${JSON.stringify(yaml)}`);
    }
  });

  it('names data source fields and the TTL as YAML does, keeping user keys as written', () => {
    const { definitions, problems } = parseDefinitionTexts([
      {
        file: 'defs.yaml',
        text: [
          'kind: entity',
          'name: driver',
          'join_keys: [{ name: driver_id, type: int64 }]',
          '---',
          'kind: data_source',
          'name: trips',
          'type: kafka',
          'topic: trips',
          'timestamp_field: ts',
          'field_mapping: { driverId: driver_id }',
          '---',
          'kind: feature_view',
          'name: stats',
          'entities: [driver]',
          'source: trips',
          'ttl: 0',
          'features: [{ name: trips, type: int64 }]',
        ].join('\n'),
      },
    ]);
    assert.deepEqual(problems, []);
    const [, source, view] = definitions.map(({ file: _f, line: _l, ...tagged }) => toYamlDefinition(tagged));
    assert.deepEqual(source, {
      kind: 'data_source',
      name: 'trips',
      type: 'kafka',
      topic: 'trips',
      timestamp_field: 'ts',
      field_mapping: { driverId: 'driver_id' },
    });
    assert.equal(view!.ttl, 0);
    assert.ok(!('ttlSeconds' in view!));
  });
});
