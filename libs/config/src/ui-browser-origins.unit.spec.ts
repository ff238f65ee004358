import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uiBrowserOrigins } from './connection-settings';

describe('uiBrowserOrigins: the origins the apps let call them from a browser', () => {
  it('is the UI’s own address, a local or wildcard host as both 127.0.0.1 and localhost', () => {
    assert.deepEqual(uiBrowserOrigins(undefined, {}), ['http://127.0.0.1:6575', 'http://localhost:6575']);
    assert.deepEqual(uiBrowserOrigins({ ui: { host: '0.0.0.0', port: 8080 } }, {}), [
      'http://127.0.0.1:8080',
      'http://localhost:8080',
    ]);
    assert.deepEqual(uiBrowserOrigins({ ui: { host: 'features.internal' } }, { FEATURELOG_UI_PORT: '7000' }), [
      'http://features.internal:7000',
    ]);
  });

  it('adds FEATURELOG_UI_ORIGINS for a UI behind a proxy or a public name', () => {
    assert.deepEqual(
      uiBrowserOrigins(undefined, { FEATURELOG_UI_ORIGINS: 'https://features.example.com, https://b.example' }),
      ['http://127.0.0.1:6575', 'http://localhost:6575', 'https://features.example.com', 'https://b.example'],
    );
  });
});
