import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireMaven } from './preflight';
import { tailFile } from './processes';
import { StackError } from './stack-error';
import { STACK_CACHE_KEY, STACK_VERSIONS } from './versions';

export interface StackArtifacts {
  root: string;
  /** Kafka broker + Connect worker classpath directory */
  kafkaLibs: string;
  /** connect-file and any other plugin folders fetched by Maven */
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
];

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
 * Fetches the jars and the Apicurio tarball with Maven into the version-keyed
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
  const base = ['-B', '-f', POM, `-Dstack.cache=${staging}`, ...GOALS];
  progress(
    `fetching Kafka ${STACK_VERSIONS.kafka} and Apicurio ${STACK_VERSIONS.apicurio} with Maven (log: ${logFile})`,
  );
  let code = await runMaven(mvn, ['-o', '-q', ...base], logFile, () => progress('maven (offline) still running'));
  if (code !== 0) {
    progress('not all artifacts in ~/.m2; downloading from Maven Central (about 230 MB the first time)');
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    code = await runMaven(mvn, ['--no-transfer-progress', ...base], logFile, () => progress('maven still downloading'));
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
    path.join(staging, MARKER),
    JSON.stringify({ ...STACK_VERSIONS, at: new Date().toISOString() }) + '\n',
  );
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(staging, root);
  return layout(root);
}
