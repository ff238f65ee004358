import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Module from 'node:module';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv/dist/2020';
import { schemaValidator, type ValidatedSchemaName } from '@featurelog/config';
import { standaloneSchemaValidators } from './build';

/** The standalone code as the build writes it, loaded as a module of this folder (it requires ajv's runtime). */
function loadStandalone(): Record<ValidatedSchemaName, ValidateFunction> {
  const file = join(__dirname, 'schema-validators.standalone.js');
  const loaded = new Module(file, module) as Module & { _compile(code: string, file: string): void };
  loaded.filename = file;
  loaded.paths = module.paths;
  loaded._compile(standaloneSchemaValidators(), file);
  return loaded.exports as Record<ValidatedSchemaName, ValidateFunction>;
}

const DOCUMENTS: Record<ValidatedSchemaName, unknown[]> = {
  definition: [
    { kind: 'entity', name: 'driver', join_keys: [{ name: 'driver_id', type: 'int64' }] },
    { kind: 'entity', name: '1bad', join_keys: [{ name: 'x', type: 'intt' }], bogus: 1 },
    { kind: 'feature_view', name: 'v', entities: ['d'], features: [{ name: 'a', type: 'int64' }], ttl: '2x' },
    { kind: 'data_source', name: 's', type: 'kafka' },
    { kind: 'feature_service', name: 's', features: [] },
    { kind: 'nothing' },
    'text',
    null,
  ],
  project: [
    { project: 'p', log: { type: 'embedded', path: '.featurelog/log' } },
    { project: 'Bad Name', log: { type: 'kafka' }, onlineStore: { type: 'redis', url: 5 }, extra: true },
    {},
    [],
  ],
};

describe("the build's precompiled schema validators", () => {
  it('report exactly what the validators compiled at run time report, errors and all', () => {
    const standalone = loadStandalone();
    for (const [name, documents] of Object.entries(DOCUMENTS) as Array<[ValidatedSchemaName, unknown[]]>) {
      const compiled = schemaValidator(name);
      for (const document of documents) {
        const valid = compiled(document);
        const errors = compiled.errors;
        assert.equal(standalone[name](document), valid, `${name}: ${JSON.stringify(document)}`);
        assert.deepEqual(standalone[name].errors ?? null, errors ?? null, `${name}: ${JSON.stringify(document)}`);
      }
    }
  });
});
