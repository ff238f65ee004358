import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeaturelogError } from '@featurelog/domain';
import { parseExportRequest } from './export-request';

const refused = (body: unknown, field: RegExp) =>
  assert.throws(
    () => parseExportRequest(body, '/srv/repo'),
    (error: unknown) =>
      error instanceof FeaturelogError && error.code === 'INVALID_EXPORT_REQUEST' && field.test(error.message),
    JSON.stringify(body),
  );

describe('POST /jobs/exports: the export request checked', () => {
  it('takes the request featurelog export submits, relative paths from the jobs app’s directory', () => {
    assert.deepEqual(
      parseExportRequest(
        { entities: 'entities.csv', service: 'driver_activity', output: '/tmp/out.parquet' },
        '/srv/repo',
      ),
      { entities: '/srv/repo/entities.csv', service: 'driver_activity', output: '/tmp/out.parquet' },
    );
    assert.deepEqual(
      parseExportRequest(
        { entities: '/e.parquet', features: ['v:a', 'v:*'], output: 'o', fullFeatureNames: true, asServed: false },
        '/srv',
      ),
      { entities: '/e.parquet', features: ['v:a', 'v:*'], output: '/srv/o', fullFeatureNames: true, asServed: false },
    );
  });

  it('refuses a bad request naming the field', () => {
    const good = { entities: 'e.csv', service: 's', output: 'o.parquet' };
    refused(undefined, /JSON object/);
    refused([good], /JSON object/);
    refused({ ...good, entities: '' }, /^entities /);
    refused({ ...good, entities: 3 }, /^entities /);
    refused({ service: 's', output: 'o.parquet' }, /^entities /);
    refused({ ...good, output: undefined }, /^output /);
    refused({ ...good, output: 'o.csv' }, /^output: .*Parquet/);
    refused({ entities: 'e.csv', output: 'o.parquet' }, /exactly one of features and service/);
    refused({ ...good, features: ['v:a'] }, /exactly one of features and service/);
    refused({ ...good, service: ' ' }, /^service /);
    refused({ entities: 'e.csv', output: 'o.parquet', features: 'v:a' }, /^features must/);
    refused({ entities: 'e.csv', output: 'o.parquet', features: ['v:a', 'nocolon'] }, /^features: "nocolon"/);
    refused({ ...good, entitiesFormat: 'json' }, /^entitiesFormat /);
    refused({ ...good, asServed: 'yes' }, /^asServed /);
    refused({ ...good, outptu: 'x' }, /unknown field\(s\) outptu/);
  });
});
