import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { requireMaven } from './preflight';
import { tailFile } from './processes';
import { StackError } from './stack-error';
import { STACK_CACHE_KEY, STACK_VERSIONS } from './versions';

export interface StackArtifacts {
  root: string;
  /** Kafka broker + Connect worker classpath directory */
  kafkaLibs: string;
  /** plugin folders fetched by Maven: connect-file, debezium-connector-postgres, apicurio-converter */
  connectPlugins: string;
  /** Apicurio Registry Quarkus fast-jar directory (contains quarkus-run.jar) */
  apicurio: string;
}

const MARKER = '.complete';

export function artifactCacheDir(): string {
  const base = process.env.FEATURELOG_STACK_CACHE ?? path.join(os.homedir(), '.cache', 'featurelog', 'stack');
  return path.join(base, STACK_CACHE_KEY);
}

function layout(root: string): StackArtifacts {
  return {
    root,
    kafkaLibs: path.join(root, 'kafka', 'libs'),
    connectPlugins: path.join(root, 'connect-plugins'),
    apicurio: path.join(root, 'apicurio'),
  };
}

export function cachedArtifacts(): StackArtifacts | undefined {
  const root = artifactCacheDir();
  return fs.existsSync(path.join(root, MARKER)) ? layout(root) : undefined;
}

const POM = path.join(__dirname, 'pom.xml');
const GOALS = [
  'dependency:copy-dependencies@kafka-libs',
  'dependency:copy@connect-plugins',
  'dependency:unpack@apicurio',
  'dependency:unpack@debezium',
];
/** The converter's dependency tree is resolved on its own (see the pom), so a second Maven run. */
const CONVERTER_POM = path.join(__dirname, 'apicurio-converter.pom.xml');
const CONVERTER_GOALS = ['dependency:copy-dependencies@apicurio-converter'];

/**
 * The Connect worker finds plugins by their ServiceLoader manifests only (services/connect.ts), and
 * Apicurio's converter jar has none: without one the worker cannot load `AvroConverter` by name.
 * A manifest jar in the plugin folder (what Kafka's `connect-plugin-path sync-manifests` would write)
 * costs nothing at start-up, where the reflective scan (`plugin.discovery=hybrid_warn`) costs ~25 s.
 */
const CONVERTER_MANIFEST = {
  folder: 'apicurio-converter',
  jar: 'featurelog-connect-manifests.jar',
  entries: {
    'META-INF/services/org.apache.kafka.connect.storage.Converter':
      'io.apicurio.registry.utils.converter.AvroConverter\nio.apicurio.registry.utils.converter.ExtJsonConverter\n',
  },
};

/** A zip with stored (uncompressed) entries: enough for a jar of text manifests, and no dependency. */
export function storedZip(entries: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(entries)) {
    const nameBytes = Buffer.from(name, 'utf8');
    const data = Buffer.from(text, 'utf8');
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0x00210000, 10); // 1980-01-01 00:00: a fixed time keeps the jar reproducible
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(0x00210000, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const centralSize = centrals.reduce((sum, part) => sum + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

function runMaven(mvn: string, args: string[], logFile: string, onTick: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    fs.writeSync(out, `\n==== ${new Date().toISOString()} mvn ${args.join(' ')}\n`);
    const child = spawn(mvn, args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const ticker = setInterval(onTick, 15_000);
    child.on('error', (error) => {
      clearInterval(ticker);
      reject(error);
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      resolve(code ?? 1);
    });
  });
}

const UNREACHABLE =
  /Could not transfer|Unknown host|UnknownHostException|Connection refused|Network is unreachable|Connect timed out|Read timed out|No route to host|Temporary failure in name resolution|PKIX path/i;

/**
 * Fetches the jars and the Apicurio and Debezium tarballs with Maven into the version-keyed
 * cache, once. A later `up` finds the marker and runs no Maven at all; if the
 * marker is missing but ~/.m2 is complete, the offline attempt succeeds without
 * touching the network.
 */
export async function ensureArtifacts(logDir: string, progress: (message: string) => void): Promise<StackArtifacts> {
  const cached = cachedArtifacts();
  if (cached) {
    progress(`artifacts cached at ${cached.root}`);
    return cached;
  }
  const mvn = requireMaven();
  const root = artifactCacheDir();
  const staging = `${root}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, 'maven.log');
  const runs = [
    ['-B', '-f', POM, `-Dstack.cache=${staging}`, ...GOALS],
    ['-B', '-f', CONVERTER_POM, `-Dstack.cache=${staging}`, ...CONVERTER_GOALS],
  ];
  progress(
    `fetching Kafka ${STACK_VERSIONS.kafka}, Apicurio ${STACK_VERSIONS.apicurio} and its Connect converter, ` +
      `Debezium ${STACK_VERSIONS.debezium} (PostgreSQL connector) with Maven (log: ${logFile})`,
  );
  const fetchedAt = Date.now();
  const runAll = async (extra: string[], note: string): Promise<number> => {
    for (const args of runs) {
      const code = await runMaven(mvn, [...extra, ...args], logFile, () => progress(note));
      if (code !== 0) return code;
    }
    return 0;
  };
  let code = await runAll(['-o', '-q'], 'maven (offline) still running');
  if (code !== 0) {
    progress('not all artifacts in ~/.m2; downloading from Maven Central (about 280 MB the first time)');
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    code = await runAll(['--no-transfer-progress'], 'maven still downloading');
  }
  if (code !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    const tail = tailFile(logFile, 60);
    const offline = UNREACHABLE.test(tail);
    const errors = tail
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('[ERROR]') &&
          !/Re-run Maven|-> \[Help|^\[ERROR\] *$|Help 1\]|For more information/.test(line),
      )
      .slice(0, 6)
      .join('\n');
    throw new StackError(
      offline ? 'REGISTRY_UNREACHABLE' : 'MAVEN_FAILED',
      offline
        ? 'Maven could not reach the Maven Central registry to download the stack (Kafka, Connect, Apicurio jars)'
        : `Maven failed (exit ${code}) fetching the stack artifacts`,
      {
        hint: offline
          ? 'check network access to Maven Central (or the mirror/proxy in ~/.m2/settings.xml) and run `npm run stack -- up` again; ' +
            `nothing was started. Maven said (full log ${logFile}):\n${errors}`
          : `nothing was started. Maven said (full log ${logFile}):\n${errors}`,
        retriable: offline,
      },
    );
  }
  fs.writeFileSync(
    path.join(staging, 'connect-plugins', CONVERTER_MANIFEST.folder, CONVERTER_MANIFEST.jar),
    storedZip(CONVERTER_MANIFEST.entries),
  );
  progress(`artifacts fetched in ${((Date.now() - fetchedAt) / 1000).toFixed(1)} s`);
  fs.writeFileSync(
    path.join(staging, MARKER),
    JSON.stringify({ ...STACK_VERSIONS, at: new Date().toISOString() }) + '\n',
  );
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(staging, root);
  return layout(root);
}
