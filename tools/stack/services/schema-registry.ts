import * as fs from 'node:fs';
import * as path from 'node:path';
import { StackError } from '../stack-error';
import { CCOMPAT_PATH, PORT_ENV, STACK_HOST } from '../stack-env';
import { heap, httpGet, httpsGet, JVM_FLAGS, type StackService } from '../service';

/** 3.x ships a fast-jar (quarkus-run.jar), 2.x a legacy runner jar beside lib/. */
function runnerJar(dir: string): string {
  const fastJar = path.join(dir, 'quarkus-run.jar');
  if (fs.existsSync(fastJar)) return fastJar;
  const legacy = fs.readdirSync(dir).find((file) => file.endsWith('-runner.jar'));
  if (legacy === undefined) throw new StackError('APICURIO_LAYOUT', `no quarkus-run.jar or *-runner.jar in ${dir}`);
  return path.join(dir, legacy);
}

/**
 * Apicurio Registry 2.6 (Quarkus fast-jar, in-memory storage): every `up`
 * starts with no schemas. Artifact deletion is enabled so that the Confluent
 * DELETE /subjects endpoints behave as they do on Confluent.
 */
export const schemaRegistry: StackService = {
  name: 'schema-registry',
  dependsOn: [],
  needsJava: true,
  readyTimeoutMs: 120_000,
  stopGraceMs: 20_000,
  ports: (ports) => [
    { port: ports.schemaRegistry, envVar: PORT_ENV.schemaRegistry, service: 'schema-registry' },
    { port: ports.schemaRegistryTls, envVar: PORT_ENV.schemaRegistryTls, service: 'schema-registry HTTPS' },
  ],
  endpoint: (ports) => `http://${STACK_HOST}:${ports.schemaRegistry}${CCOMPAT_PATH}`,

  async prepare(ctx) {
    const home = path.join(ctx.stackDir, 'schema-registry');
    fs.mkdirSync(home, { recursive: true });
    const secure = ctx.secure();
    const settings = {
      'quarkus.http.host': STACK_HOST,
      'quarkus.http.port': String(ctx.ports.schemaRegistry),
      // HTTPS on a second port, plain HTTP kept (insecure-requests) for the plain tests.
      'quarkus.http.ssl-port': String(ctx.ports.schemaRegistryTls),
      'quarkus.http.ssl.certificate.files': secure.certFile,
      'quarkus.http.ssl.certificate.key-files': secure.keyFile,
      'quarkus.http.insecure-requests': 'enabled',
      // the management interface would take another port (9000)
      'quarkus.management.enabled': 'false',
      'registry.rest.artifact.deletion.enabled': 'true',
      'java.io.tmpdir': home,
    };
    return {
      command: ctx.java(),
      args: [
        ...heap('FEATURELOG_SCHEMA_REGISTRY_HEAP', '384m'),
        ...JVM_FLAGS,
        ...Object.entries(settings).map(([key, value]) => `-D${key}=${value}`),
        '-jar',
        runnerJar(ctx.artifacts().apicurio),
      ],
      cwd: home,
      env: process.env,
    };
  },

  async probe(ctx) {
    const response = await httpGet(`http://${STACK_HOST}:${ctx.ports.schemaRegistry}${CCOMPAT_PATH}/subjects`);
    if (response?.status !== 200) return undefined;
    const secured = await httpsGet(
      `https://${STACK_HOST}:${ctx.ports.schemaRegistryTls}${CCOMPAT_PATH}/subjects`,
      ctx.secure().caFile,
    );
    return secured?.status === 200 ? `GET ${CCOMPAT_PATH}/subjects -> 200 over HTTP and HTTPS` : undefined;
  },
};
