import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../main';
import { INGEST_ROWS_REJECTED_EXIT_CODE } from './ingest.commands';

/** Runs the CLI in-process; the exit code a shell would see. */
async function featurelog(...args: string[]): Promise<number> {
  const code = await main(['node', 'featurelog', ...args]);
  process.exitCode = 0;
  return code;
}

describe('featurelog ingest (drivers example, embedded)', () => {
  let dir: string;
  let repo: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-ingest-'));
    repo = join(dir, 'repo');
    assert.equal(await featurelog('init', repo), 0);
    assert.equal(await featurelog('--repo', repo, 'apply'), 0);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('ingests the sample history (Parquet, then CSV) with exit code 0', async () => {
    assert.equal(
      await featurelog('--repo', repo, 'ingest', 'driver_hourly_stats', join(repo, 'data/driver_stats.parquet')),
      0,
    );
    assert.equal(
      await featurelog('--repo', repo, 'ingest', 'driver_hourly_stats', join(repo, 'data/driver_stats.csv')),
      0,
    );
  });

  it('refuses a file with a bad row (exit 1) and writes every rejected row, with its row and line, to the reject file', async () => {
    const bad = join(dir, 'bad.csv');
    const rejects = join(dir, 'bad.rejects.jsonl');
    await writeFile(
      bad,
      'driver_id,event_timestamp,conv_rate,acc_rate,avg_daily_trips\n1001,2025-01-01T00:00:00Z,0.5,0.5,1\n1002,2025-01-01T00:00:00Z,lots,0.5,1\n',
    );
    assert.equal(await featurelog('--repo', repo, 'ingest', 'driver_hourly_stats', bad, '--rejects', rejects), 1);
    const lines = (await readFile(rejects, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.row, l.line, (l.problems as Array<{ field: string }>)[0]!.field]),
      [[2, 3, 'conv_rate']],
    );
    assert.equal(
      await featurelog('--repo', repo, 'ingest', 'driver_hourly_stats', bad, '--rejects', rejects, '--skip-invalid'),
      INGEST_ROWS_REJECTED_EXIT_CODE,
    );
  });

  it('exits 1 naming an unknown view', async () => {
    assert.equal(await featurelog('--repo', repo, 'ingest', 'nope', join(repo, 'data/driver_stats.csv')), 1);
  });
});
