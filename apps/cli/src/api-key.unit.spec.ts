import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { clientApiKey } from './api-key';

const KEY = 'cli-key-0123456789abcdef';

describe('the API key of a featurelog command', () => {
  let dir: string;
  after(() => rm(dir, { recursive: true, force: true }));

  it('comes from --api-key, --api-key-file, FEATURELOG_API_KEY, FEATURELOG_API_KEY_FILE, in that order', async () => {
    dir = await mkdtemp(join(tmpdir(), 'featurelog-cli-key-'));
    const file = join(dir, 'key');
    await writeFile(file, `${KEY}-file\n`);
    assert.equal(await clientApiKey({}, {}), undefined, 'none is fine');
    assert.equal(await clientApiKey({}, { FEATURELOG_API_KEY_FILE: file }), `${KEY}-file`, 'the newline is dropped');
    assert.equal(await clientApiKey({}, { FEATURELOG_API_KEY: KEY, FEATURELOG_API_KEY_FILE: file }), KEY);
    assert.equal(await clientApiKey({ apiKeyFile: file }, { FEATURELOG_API_KEY: 'other' }), `${KEY}-file`);
    assert.equal(await clientApiKey({ apiKey: 'flag', apiKeyFile: file }, { FEATURELOG_API_KEY: KEY }), 'flag');
  });

  it('refuses an unreadable or malformed key file, naming the file and never the key', async () => {
    const missing = join(dir, 'missing');
    await assert.rejects(clientApiKey({ apiKeyFile: missing }, {}), (error: FeaturelogError) => {
      assert.equal(error.code, 'API_KEY_FILE_UNREADABLE');
      assert.match(error.message, /cannot read the API key file .*missing \(from --api-key-file\): ENOENT/);
      return true;
    });
    const twoLines = join(dir, 'two');
    await writeFile(twoLines, `${KEY}\nsecond-line-secret\n`);
    await assert.rejects(clientApiKey({}, { FEATURELOG_API_KEY_FILE: twoLines }), (error: FeaturelogError) => {
      assert.equal(error.code, 'INVALID_OPTION');
      assert.match(error.message, /the API key file .*two \(from FEATURELOG_API_KEY_FILE\) must hold one API key/);
      assert.ok(!error.message.includes(KEY) && !error.message.includes('second-line-secret'));
      return true;
    });
  });
});
