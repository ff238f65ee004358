/**
 * docker-compose.kafka.yml is the same stack for people who have Docker. `config` parses the file
 * against the Compose file schema and interpolates it without an engine; this checks it does, and
 * that its services publish the ports of the Docker-free stack under the same FEATURELOG_*
 * variables. Either Compose parses it: the v2 docker plugin where a machine has it, else Debian's
 * `docker-compose` (v1), which tools/stack/install-system.sh installs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_PORTS, PORT_ENV } from './stack-env';

const repo = resolve(__dirname, '..', '..');

/** A published port as Compose prints it: v2's long form, or v1's `host_ip:published:target/proto`. */
type PortEntry = string | { published: string | number; target: number; host_ip?: string };

interface ComposeModel {
  services: Record<
    string,
    { ports?: PortEntry[]; command?: string | string[]; depends_on?: Record<string, { condition: string }> | string[] }
  >;
}

function composeCommand(): [string, string[]] {
  const plugin = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  return plugin.status === 0 ? ['docker', ['compose']] : ['docker-compose', []];
}

/** The environment without the stack's port variables, so the file's own defaults are what is read. */
function withoutPortOverrides(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const ports = new Set<string>(Object.values(PORT_ENV));
  return Object.fromEntries(Object.entries(env).filter(([name]) => !ports.has(name)));
}

function composeConfig(env: Record<string, string> = {}): ComposeModel {
  const [command, prefix] = composeCommand();
  const result = spawnSync(command, [...prefix, '-f', 'docker-compose.kafka.yml', 'config'], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...withoutPortOverrides(process.env), ...env },
  });
  if (result.error || result.status !== 0) {
    assert.fail(
      `${command} ${prefix.join(' ')} config failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}\n` +
        'Debian’s docker-compose is installed by tools/stack/install-system.sh.',
    );
  }
  return parse(result.stdout) as ComposeModel;
}

function portOf(entry: PortEntry): { hostIp: string | undefined; published: number } {
  if (typeof entry !== 'string') return { hostIp: entry.host_ip, published: Number(entry.published) };
  const parts = entry.replace(/\/\w+$/, '').split(':');
  assert.equal(parts.length, 3, `port ${entry} names host ip, published and target port`);
  return { hostIp: parts[0], published: Number(parts[1]) };
}

/** Compose service → the Docker-free stack's port of the same service. */
const SERVICES = {
  kafka: 'kafka',
  'schema-registry': 'schemaRegistry',
  redis: 'redis',
  postgres: 'postgres',
  connect: 'connect',
} as const;

function publishedPorts(model: ComposeModel): Record<string, number> {
  return Object.fromEntries(
    Object.keys(SERVICES).map((service) => {
      const ports = model.services[service]?.ports ?? [];
      assert.equal(ports.length, 1, `${service} publishes exactly one port`);
      const port = portOf(ports[0]!);
      assert.equal(port.hostIp, '127.0.0.1', `${service} listens on loopback only`);
      return [service, port.published];
    }),
  );
}

describe('docker-compose.kafka.yml', () => {
  it('parses without an engine and publishes the Docker-free stack ports', () => {
    const ports = publishedPorts(composeConfig());
    for (const [service, key] of Object.entries(SERVICES)) assert.equal(ports[service], DEFAULT_PORTS[key], service);
  });

  it('takes the same FEATURELOG_* port overrides as npm run stack', () => {
    const overrides = { kafka: 19192, schemaRegistry: 18181, redis: 16479, postgres: 15532, connect: 18183 };
    const env = Object.fromEntries(
      Object.entries(overrides).map(([key, port]) => [PORT_ENV[key as keyof typeof overrides], String(port)]),
    );
    const ports = publishedPorts(composeConfig(env));
    for (const [service, key] of Object.entries(SERVICES)) {
      assert.equal(ports[service], overrides[key as keyof typeof overrides], `${service} follows ${PORT_ENV[key]}`);
    }
  });

  it('runs PostgreSQL with logical WAL and Connect with the plugins fetched through the stack poms', () => {
    const { services } = composeConfig();
    const postgresCommand = [services.postgres?.command ?? []].flat().join(' ');
    assert.match(postgresCommand, /wal_level=logical/);
    const fetchCommand = [services['connect-plugins']?.command ?? []].flat().join(' ');
    assert.match(fetchCommand, /dependency:unpack@debezium/);
    assert.match(fetchCommand, /apicurio-converter\.pom\.xml/);
    const dependsOn = services.connect?.depends_on;
    assert.ok(dependsOn && !Array.isArray(dependsOn), 'connect waits on conditions');
    assert.equal(dependsOn['connect-plugins']?.condition, 'service_completed_successfully');
    assert.match([services.connect?.command ?? []].flat().join(' '), /plugin\.path=\/opt\/connect-plugins/);
  });

  it('is refused when it breaks the Compose file schema', () => {
    // The same parser on a file with an unknown service key: proves `config` validates, not just reads YAML.
    const [command, prefix] = composeCommand();
    const broken = spawnSync(command, [...prefix, '-f', '-', 'config'], {
      cwd: repo,
      encoding: 'utf8',
      input: 'services:\n  kafka:\n    image: apache/kafka:4.3.1\n    portz: ["9092:9092"]\n',
    });
    assert.notEqual(broken.status, 0, 'an unknown service property is refused');
    assert.match(broken.stderr, /portz/);
  });
});
