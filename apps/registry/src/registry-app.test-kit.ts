import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stackProjectYaml, uniqueName, waitFor } from '@featurelog/testing';

const REPO_ROOT = resolve(__dirname, '..', '..', '..');
const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const MAIN = join(REPO_ROOT, 'apps', 'registry', 'src', 'main.ts');

/** A feature repo folder holding only featurelog.yaml, pointing at the stack, under a fresh project name. */
export async function kafkaFeatureRepo(prefix = 'regapp'): Promise<{ dir: string; project: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'featurelog-regapp-'));
  const project = uniqueName(prefix).replace(/-/g, '_');
  await writeFile(
    join(dir, 'featurelog.yaml'),
    stackProjectYaml(project, {
      onlineStore: '{ type: embedded, path: .featurelog/online }',
      more: ['offlineStore: { type: local, path: .featurelog/offline }'],
    }),
  );
  return { dir, project };
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export interface RegistryAppProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  get<T = unknown>(path: string): Promise<{ status: number; body: T }>;
  post<T = unknown>(path: string, body: unknown): Promise<{ status: number; body: T }>;
  /** The version /metrics reports, or undefined while the app does not answer. */
  metricVersion(): Promise<number | undefined>;
  /** SIGKILL: no shutdown hook, no last checkpoint. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs apps/registry/src/main.ts as its own process, as in production, and waits until it listens. */
export async function spawnRegistryApp(options: {
  repoDir: string;
  stateDir: string;
  foldBatch?: number;
}): Promise<RegistryAppProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(NODE, ['-r', '@swc-node/register', MAIN], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      FEATURELOG_REPO: options.repoDir,
      FEATURELOG_REGISTRY_STATE: options.stateDir,
      FEATURELOG_REGISTRY_PORT: String(port),
      ...(options.foldBatch === undefined ? {} : { FEATURELOG_REGISTRY_FOLD_BATCH: String(options.foldBatch) }),
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');

  const request = async <T>(path: string, init?: RequestInit) => {
    const response = await fetch(`${url}${path}`, init);
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // /metrics is text
    }
    return { status: response.status, body: body as T };
  };
  const app: RegistryAppProcess = {
    url,
    child,
    output: () => output,
    get: (path) => request(path),
    post: (path, body) =>
      request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    async metricVersion() {
      try {
        const { body } = await request<string>('/metrics');
        const match = /^featurelog_registry_version\{[^}]*\} (\d+)$/m.exec(body);
        return match ? Number(match[1]) : undefined;
      } catch {
        return undefined;
      }
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`the registry app exited with ${child.exitCode}: ${output}`);
      return (await app.metricVersion()) !== undefined;
    },
    { timeoutMs: 60_000, intervalMs: 10, description: `the registry app to listen on ${url}` },
  );
  return app;
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}
