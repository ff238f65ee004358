import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { StackArtifacts } from './artifacts';
import type { PortClaim } from './preflight';
import type { SecureMaterial } from './secure-material';
import type { StackPorts } from './stack-env';

export interface StackContext {
  repoRoot: string;
  /** FEATURELOG_STACK_DIR: data, config, logs and pid files of this stack */
  stackDir: string;
  logDir: string;
  ports: StackPorts;
  /** resolved lazily: only JVM services need them, and fetching may download */
  artifacts: () => StackArtifacts;
  java: () => string;
  /** CA, server certificate and credentials of the secured listeners, made on first use. */
  secure: () => SecureMaterial;
}

export interface LaunchSpec {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** run as this user (PostgreSQL refuses to run as root); the log file is still opened by `up` */
  uid?: number;
  gid?: number;
}

/** One local service: what it listens on, how to start it, how to tell it is ready. */
export interface StackService {
  name: string;
  /** started only after these are ready */
  dependsOn: string[];
  needsJava: boolean;
  readyTimeoutMs: number;
  /** SIGTERM (or stopSignal) first; SIGKILL after this */
  stopGraceMs: number;
  stopSignal?: NodeJS.Signals;
  ports(ports: StackPorts): PortClaim[];
  /** the URL/address clients use, for messages */
  endpoint(ports: StackPorts): string;
  /** writes config and initialises data dirs; returns the command to run */
  prepare(ctx: StackContext): Promise<LaunchSpec>;
  /** `down` (without --keep-data) deletes <stack dir>/<name>; this deletes what the service keeps elsewhere */
  purge?(stackDir: string): void;
  /** resolves a short detail when the service answers for real, undefined when not yet */
  probe(ctx: StackContext): Promise<string | undefined>;
}

export const JVM_FLAGS = ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true'];

export function heap(envVar: string, fallback: string): string[] {
  const max = process.env[envVar] ?? fallback;
  return [`-Xmx${max}`, '-Xms64m'];
}

/** GET url; resolves the status code and body, or undefined on connection errors/timeouts. */
export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

/** GET an https url trusting only the CA file; like httpGet, undefined when nothing answers. */
export function httpsGet(url: string, caFile: string, timeoutMs = 2000): Promise<{ status: number } | undefined> {
  return new Promise((resolve) => {
    const request = https.get(url, { timeout: timeoutMs, ca: fs.readFileSync(caFile) }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0 }));
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

/** log4j2 config for the Kafka JVMs: everything to stdout, which the supervisor sends to the log file. */
export const LOG4J2_PROPERTIES = `status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
`;
