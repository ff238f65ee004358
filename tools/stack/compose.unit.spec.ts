/**
 * docker-compose.kafka.yml is the same stack for people who have Docker. `docker compose config`
 * parses and interpolates it without an engine; this checks it does, and that its services publish
 * the ports of the Docker-free stack under the same FEATURELOG_* variables.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { DEFAULT_PORTS, PORT_ENV } from './stack-env';

const repo = resolve(__dirname, '..', '..');

interface ComposeModel {
  services: Record<string, { ports?: Array<{ published: string; target: number; host_ip?: string }> }>;
}

function composeConfig(env: Record<string, string> = {}): ComposeModel {
  const result = spawnSync('docker', ['compose', '-f', 'docker-compose.kafka.yml', 'config', '--format', 'json'], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  if (result.error || result.status !== 0) {
    assert.fail(
      `docker compose config failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}\n` +
        'The compose plugin is installed by tools/stack/install-system.sh.',
    );
  }
  return JSON.parse(result.stdout) as ComposeModel;
}

/** Compose service → the Docker-free stack's port of the same service. */
const SERVICES = {
  kafka: 'kafka',
  'schema-registry': 'schemaRegistry',
  redis: 'redis',
  connect: 'connect',
} as const;

function publishedPorts(model: ComposeModel): Record<string, number> {
  return Object.fromEntries(
    Object.keys(SERVICES).map((service) => {
      const ports = model.services[service]?.ports ?? [];
      assert.equal(ports.length, 1, `${service} publishes exactly one port`);
      assert.equal(ports[0]!.host_ip, '127.0.0.1', `${service} listens on loopback only`);
      return [service, Number(ports[0]!.published)];
    }),
  );
}

describe('docker-compose.kafka.yml', () => {
  it('parses without an engine and publishes the Docker-free stack ports', () => {
    const ports = publishedPorts(composeConfig());
    for (const [service, key] of Object.entries(SERVICES)) assert.equal(ports[service], DEFAULT_PORTS[key], service);
  });

  it('takes the same FEATURELOG_* port overrides as npm run stack', () => {
    const overrides = { kafka: 19192, schemaRegistry: 18181, redis: 16479, connect: 18183 };
    const env = Object.fromEntries(
      Object.entries(overrides).map(([key, port]) => [PORT_ENV[key as keyof typeof overrides], String(port)]),
    );
    const ports = publishedPorts(composeConfig(env));
    for (const [service, key] of Object.entries(SERVICES)) {
      assert.equal(ports[service], overrides[key as keyof typeof overrides], `${service} follows ${PORT_ENV[key]}`);
    }
  });
});
