import * as fs from 'node:fs';
import * as path from 'node:path';
import { StackError } from '../stack-error';
import { PORT_ENV, STACK_HOST } from '../stack-env';
import { heap, httpGet, JVM_FLAGS, LOG4J2_PROPERTIES, type StackService } from '../service';

/** One per plugin folder the stack installs: the worker must have discovered each. */
const REQUIRED_PLUGINS = [
  'org.apache.kafka.connect.file.FileStreamSourceConnector',
  'io.debezium.connector.postgresql.PostgresConnector',
  'io.apicurio.registry.utils.converter.AvroConverter',
];

/**
 * A distributed Connect worker. plugin.path is <stack dir>/connect/plugins
 * (refreshed from the Maven cache on every up: connect-file, Debezium's
 * PostgreSQL connector, Apicurio's converter) plus any
 * directories listed in FEATURELOG_CONNECT_PLUGIN_PATH. Plugins are found by
 * their ServiceLoader manifests only: the reflective scan of the classpath
 * costs ~25 s per start on 2 cores. A plugin without manifests needs
 * FEATURELOG_CONNECT_PLUGIN_DISCOVERY=hybrid_warn.
 */
export const connect: StackService = {
  name: 'connect',
  dependsOn: ['kafka'],
  needsJava: true,
  readyTimeoutMs: 120_000,
  stopGraceMs: 30_000,
  ports: (ports) => [{ port: ports.connect, envVar: PORT_ENV.connect, service: 'connect' }],
  endpoint: (ports) => `http://${STACK_HOST}:${ports.connect}`,

  async prepare(ctx) {
    const home = path.join(ctx.stackDir, 'connect');
    const plugins = path.join(home, 'plugins');
    fs.mkdirSync(plugins, { recursive: true });
    fs.cpSync(ctx.artifacts().connectPlugins, plugins, { recursive: true });
    const extra = (process.env.FEATURELOG_CONNECT_PLUGIN_PATH ?? '').split(/[,:]/).filter((dir) => dir !== '');
    const config = path.join(home, 'worker.properties');
    const log4j = path.join(home, 'log4j2.properties');
    fs.writeFileSync(log4j, LOG4J2_PROPERTIES);
    fs.writeFileSync(
      config,
      `# written by tools/stack on every up
bootstrap.servers=${STACK_HOST}:${ctx.ports.kafka}
group.id=featurelog-connect
listeners=http://${STACK_HOST}:${ctx.ports.connect}
rest.advertised.host.name=${STACK_HOST}
rest.advertised.port=${ctx.ports.connect}
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
config.storage.topic=featurelog-connect-configs
offset.storage.topic=featurelog-connect-offsets
status.storage.topic=featurelog-connect-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=5
status.storage.partitions=1
offset.flush.interval.ms=1000
# a restarted single worker takes its tasks back at once instead of after 5 minutes
scheduled.rebalance.max.delay.ms=0
connector.client.config.override.policy=All
plugin.path=${[plugins, ...extra].join(',')}
plugin.discovery=${process.env.FEATURELOG_CONNECT_PLUGIN_DISCOVERY ?? 'service_load'}
`,
    );
    return {
      command: ctx.java(),
      args: [
        ...heap('FEATURELOG_CONNECT_HEAP', '512m'),
        ...JVM_FLAGS,
        `-Dlog4j2.configurationFile=${log4j}`,
        '-cp',
        `${ctx.artifacts().kafkaLibs}/*`,
        'org.apache.kafka.connect.cli.ConnectDistributed',
        config,
      ],
      cwd: home,
      env: process.env,
    };
  },

  async probe(ctx) {
    // connectorsOnly=false lists converters too (Apicurio's is one)
    const response = await httpGet(`http://${STACK_HOST}:${ctx.ports.connect}/connector-plugins?connectorsOnly=false`);
    if (response?.status !== 200) return undefined;
    const plugins = JSON.parse(response.body) as { class: string }[];
    const missing = REQUIRED_PLUGINS.filter((required) => !plugins.some((plugin) => plugin.class === required));
    if (missing.length > 0) {
      throw new StackError('CONNECT_PLUGIN_MISSING', `Connect answers but does not list ${missing.join(', ')}`, {
        hint: `check plugin.path in ${path.join(ctx.stackDir, 'connect', 'worker.properties')} and the plugin folders there`,
      });
    }
    return `GET /connector-plugins -> 200 (${plugins.length} plugins)`;
  },
};
