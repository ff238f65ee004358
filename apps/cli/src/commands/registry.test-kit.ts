import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runProcess, type ProcessResult } from '@featurelog/runtime';
import { stackEnv, uniqueName } from '@featurelog/testing';

/** The repo root: tsconfig.json and node_modules/.bin/node live there. */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');
/**
 * The CLI from its TypeScript sources, so a test sees the code as it is now (the `featurelog` bin runs
 * dist/, as built at the last `npm run build`). The tsconfig is named: the child runs in another folder.
 */
export const CLI_FROM_SOURCE = [
  '-r',
  require.resolve('@swc-node/register'),
  join(REPO_ROOT, 'apps', 'cli', 'src', 'main.ts'),
];
const CLI_ENV = { ...process.env, SWC_NODE_PROJECT: join(REPO_ROOT, 'tsconfig.json') };
export const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');

export type CliResult = ProcessResult;

/** Runs `featurelog <args>` as a user would: a child process, from `cwd` (default: a neutral folder). */
export function runCli(args: string[], { cwd = tmpdir() }: { cwd?: string } = {}): Promise<CliResult> {
  return runProcess(NODE, [...CLI_FROM_SOURCE, ...args], { cwd, env: CLI_ENV });
}

export interface FeatureView {
  features: Array<{ name: string; type: string }>;
  description?: string;
  tags?: Record<string, string>;
  ttl?: string;
}

export const BASE_VIEW: FeatureView = {
  features: [
    { name: 'conv_rate', type: 'float64' },
    { name: 'trips', type: 'int64' },
  ],
  description: 'hourly driver statistics',
  ttl: '2h',
};

/**
 * A feature repo in a temp folder whose featurelog.yaml points at the stack (Kafka + the
 * Confluent-compatible registry) under a project name no other test uses.
 */
export class TempFeatureRepo {
  private constructor(
    readonly dir: string,
    readonly project: string,
  ) {}

  static async create(prefix = 'reg'): Promise<TempFeatureRepo> {
    const dir = await mkdtemp(join(tmpdir(), 'featurelog-repo-'));
    const repo = new TempFeatureRepo(dir, uniqueName(prefix).replace(/-/g, '_'));
    const env = stackEnv();
    await repo.write(
      'featurelog.yaml',
      [
        `project: ${repo.project}`,
        'log:',
        '  type: kafka',
        `  brokers: ${env.kafkaBrokers.join(',')}`,
        'schemaRegistry:',
        '  type: confluent',
        `  url: ${env.schemaRegistryUrl}`,
        'onlineStore:',
        '  type: embedded',
        '  path: .featurelog/online',
        'offlineStore:',
        '  type: local',
        '  path: .featurelog/offline',
        '',
      ].join('\n'),
    );
    await repo.write('entities.yaml', 'kind: entity\nname: driver\njoin_keys:\n  - name: driver_id\n    type: int64\n');
    await repo.writeView(BASE_VIEW);
    await repo.write('services.yaml', 'kind: feature_service\nname: driver_activity\nfeatures:\n  - driver_stats:*\n');
    return repo;
  }

  write(file: string, text: string): Promise<void> {
    return writeFile(join(this.dir, file), text);
  }

  remove(file: string): Promise<void> {
    return rm(join(this.dir, file));
  }

  /** The view `driver_stats` in driver_stats.yaml. */
  writeView(view: FeatureView): Promise<void> {
    const lines = ['kind: feature_view', 'name: driver_stats', 'entities: [driver]', `ttl: ${view.ttl ?? '2h'}`];
    if (view.description !== undefined) lines.push(`description: ${view.description}`);
    if (view.tags !== undefined) {
      lines.push('tags:', ...Object.entries(view.tags).map(([key, value]) => `  ${key}: ${value}`));
    }
    lines.push('features:', ...view.features.flatMap((f) => [`  - name: ${f.name}`, `    type: ${f.type}`]));
    return this.write('driver_stats.yaml', `${lines.join('\n')}\n`);
  }

  cli(...args: string[]): Promise<CliResult> {
    return runCli(['--repo', this.dir, ...args]);
  }

  async cliJson<T>(...args: string[]): Promise<{ result: CliResult; json: T }> {
    const result = await this.cli('--json', ...args);
    try {
      return { result, json: JSON.parse(result.stdout) as T };
    } catch {
      throw new Error(
        `featurelog ${args.join(' ')} printed no JSON (exit ${result.code}): ${result.stdout}${result.stderr}`,
      );
    }
  }

  dispose(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }
}

/** Says what a CLI run printed when an assertion about it fails. */
export function explain(result: CliResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
