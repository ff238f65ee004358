import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { ApiKeyVerifier } from './api-key-verifier';
import { guardRoutes, routeAccess, type GuardHost } from './route-access';

const UI = 'http://127.0.0.1:6575';

async function app(verifier: ApiKeyVerifier) {
  const fastify = Fastify();
  guardRoutes(fastify as unknown as GuardHost, verifier);
  fastify.get('/feature-views', { config: routeAccess('read') }, async () => ({ items: [] }));
  await fastify.ready();
  return fastify;
}

describe('browser origins: the CORS answer of a guarded app', () => {
  const keyed = new ApiKeyVerifier({
    apiKeys: [{ name: 'ui', key: 'the-ui-key-0123456789', scopes: ['read'] }],
    browserOrigins: [UI],
  });

  it('answers the preflight of an allowed origin before the key check, naming that origin only', async () => {
    const fastify = await app(keyed);
    const response = await fastify.inject({
      method: 'OPTIONS',
      url: '/feature-views',
      headers: {
        origin: UI,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    assert.equal(response.statusCode, 204);
    assert.equal(response.headers['access-control-allow-origin'], UI);
    assert.match(String(response.headers['access-control-allow-headers']), /authorization/);
    assert.equal(response.headers['access-control-allow-credentials'], undefined);
    await fastify.close();
  });

  it('gives another origin no CORS header, on the preflight and on the request', async () => {
    const fastify = await app(keyed);
    const preflight = await fastify.inject({
      method: 'OPTIONS',
      url: '/feature-views',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.notEqual(preflight.statusCode, 204);
    const read = await fastify.inject({
      url: '/feature-views',
      headers: { origin: 'http://evil.example', authorization: 'Bearer the-ui-key-0123456789' },
    });
    assert.equal(read.statusCode, 200);
    assert.equal(read.headers['access-control-allow-origin'], undefined);
    await fastify.close();
  });

  it('lets the page read a refusal: a wrong key is a 401 that carries the allowed origin', async () => {
    const fastify = await app(keyed);
    const refused = await fastify.inject({
      url: '/feature-views',
      headers: { origin: UI, authorization: 'Bearer wrong-key-0123456789' },
    });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.headers['access-control-allow-origin'], UI);
    assert.equal(refused.headers.vary, 'Origin');
    const allowed = await fastify.inject({
      url: '/feature-views',
      headers: { origin: UI, authorization: 'Bearer the-ui-key-0123456789' },
    });
    assert.equal(allowed.statusCode, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], UI);
    await fastify.close();
  });

  it('works with keys off too (local dev), and refuses a wildcard or a path as an origin', async () => {
    const fastify = await app(new ApiKeyVerifier({ browserOrigins: [UI] }));
    const read = await fastify.inject({ url: '/feature-views', headers: { origin: UI } });
    assert.equal(read.headers['access-control-allow-origin'], UI);
    await fastify.close();
    for (const origin of ['*', 'http://127.0.0.1:6575/', 'file:///tmp', 'not a url']) {
      assert.throws(() => new ApiKeyVerifier({ browserOrigins: [origin] }), { code: 'INVALID_CONFIG' });
    }
  });
});
