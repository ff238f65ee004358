import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfluentSchemaRegistry } from '@featurelog/avro';
import { ConnectionSettingError } from '@featurelog/domain';

/**
 * Basic auth as Confluent's clients send it (`Authorization: Basic base64(user:password)`), and what a
 * 401 becomes. The stack's Apicurio 2.6 has no basic auth (OIDC only), so this is checked against a
 * plain node:http listener that answers 401 unless the header matches; TLS is checked for real in
 * apps/cli/src/commands/secure-connections.int.spec.ts.
 */
const seen: IncomingHttpHeaders[] = [];
const server = createServer((request, response) => {
  seen.push(request.headers);
  const expected = `Basic ${Buffer.from('reader:s3cret-password').toString('base64')}`;
  response.setHeader('content-type', 'application/json');
  if (request.headers.authorization !== expected) {
    response.statusCode = 401;
    response.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
    return;
  }
  response.end(JSON.stringify({ compatibilityLevel: 'BACKWARD' }));
});
const listening = new Promise<string>((resolve) =>
  server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
);
after(() => server.close());

describe('ConfluentSchemaRegistry basic auth', () => {
  it('sends the credentials on every request', async () => {
    const registry = new ConfluentSchemaRegistry({
      url: await listening,
      basicAuth: { username: 'reader', password: 's3cret-password' },
    });
    await registry.checkConnection();
    await registry.close();
    assert.equal(seen.at(-1)?.authorization, `Basic ${Buffer.from('reader:s3cret-password').toString('base64')}`);
  });

  it('a refused password fails the start naming the settings, without the password', async () => {
    const registry = new ConfluentSchemaRegistry({
      url: await listening,
      basicAuth: { username: 'reader', password: 'wrong-password' },
    });
    const error = await registry.checkConnection().then(
      () => assert.fail('expected a refusal'),
      (error: unknown) => error,
    );
    await registry.close();
    assert.ok(error instanceof ConnectionSettingError);
    assert.equal(error.code, 'SCHEMA_REGISTRY_AUTH_FAILED');
    assert.equal(error.retriable, false);
    assert.match(
      error.message,
      /\(check schemaRegistry\.basicAuth\.username \/ schemaRegistry\.basicAuth\.password\)$/,
    );
    assert.ok(!error.message.includes('wrong-password'));
  });

  it('a registry that wants credentials, and got none, says so', async () => {
    const registry = new ConfluentSchemaRegistry({ url: await listening });
    await assert.rejects(registry.checkConnection(), {
      code: 'SCHEMA_REGISTRY_AUTH_FAILED',
      message: /no basicAuth is configured .*schemaRegistry\.basicAuth/,
    });
    await registry.close();
  });

  it('a registry that does not answer is left to the requests that need it (retriable, not a start-up failure)', async () => {
    const registry = new ConfluentSchemaRegistry({ url: 'http://127.0.0.1:1', requestTimeoutMs: 1_000 });
    await registry.checkConnection();
    await registry.close();
  });
});
