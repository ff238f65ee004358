import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProjectConfig } from '@featurelog/config';
import {
  canonicalRegistryState,
  type RegistryChangeset,
  type RegistryState,
  type TaggedDefinition,
} from '@featurelog/domain';
import { RegistryFollower } from '@featurelog/registry';
import { ProjectRuntime } from '@featurelog/runtime';
import { waitFor } from '@featurelog/testing';
import { kafkaFeatureRepo, removeDir, spawnRegistryApp, type RegistryAppProcess } from './registry-app.test-kit';

/** A few thousand changesets: enough that folding them takes many checkpointed batches. */
const LONG_LOG_EVENTS = 5_000;
const FOLD_BATCH = 25;

function definitions(description: string, extraFeature = false): TaggedDefinition[] {
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_stats',
        version: 1,
        entities: ['driver'],
        features: [
          { name: 'conv_rate', type: 'float64' },
          ...(extraFeature ? [{ name: 'acc_rate', type: 'float64' as const }] : []),
        ],
        ttlSeconds: 3600,
        online: true,
        offline: true,
        description,
      },
    },
  ];
}

/**
 * Changesets as appliers would write them: mostly accepted upserts spread over a few hundred
 * entities (so objects build long histories), deletes, and every 97th one a loser of a race.
 */
function longLog(count: number): RegistryChangeset[] {
  const out: RegistryChangeset[] = [];
  const live = new Set<string>();
  let version = 0;
  for (let offset = 0; offset < count; offset++) {
    const name = `e${offset % 300}`;
    const base = { applyId: `apply-${offset}`, appliedAt: 1_700_000_000_000_000 + offset * 1_000 };
    if (offset % 97 === 96) {
      out.push({ ...base, basedOnVersion: Math.max(0, version - 1), changes: [] });
      out[out.length - 1]!.changes.push({ op: 'delete', kind: 'entity', name: 'never' });
      continue;
    }
    if (offset % 13 === 12 && live.has(name)) {
      out.push({ ...base, basedOnVersion: version, changes: [{ op: 'delete', kind: 'entity', name }] });
      live.delete(name);
    } else {
      const definition = {
        name,
        joinKeys: [{ name: `${name}_id`, type: 'int64' as const }],
        description: `v${offset}`,
      };
      out.push({ ...base, basedOnVersion: version, changes: [{ op: 'upsert', kind: 'entity', name, definition }] });
      live.add(name);
    }
    version = offset + 1;
  }
  return out;
}

describe('registry app over Kafka and the schema registry', { timeout: 600_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function appFor(repoDir: string, stateDir: string, foldBatch?: number): Promise<RegistryAppProcess> {
    const app = await spawnRegistryApp({ repoDir, stateDir, ...(foldBatch ? { foldBatch } : {}) });
    cleanups.push(() => app.stop());
    return app;
  }

  async function servedState(app: RegistryAppProcess, expectedVersion: number): Promise<RegistryState> {
    return waitFor(
      async () => {
        const { status, body } = await app.get<RegistryState>('/registry');
        return status === 200 && body.version === expectedVersion ? body : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 50, description: `GET /registry at version ${expectedVersion}` },
    );
  }

  describe('a long registry log', () => {
    let repoDir: string;
    let stateDir: string;
    let runtime: ProjectRuntime;
    let reference: RegistryState;

    before(async () => {
      const repo = await kafkaFeatureRepo();
      repoDir = repo.dir;
      stateDir = join(await mkdtemp(join(tmpdir(), 'featurelog-regstate-')), 'state');
      cleanups.push(
        () => removeDir(repoDir),
        () => removeDir(join(stateDir, '..')),
      );
      runtime = await ProjectRuntime.open(await loadProjectConfig(repoDir));
      cleanups.push(() => runtime.close());
      const topic = runtime.topics.project.find((spec) => spec.name.endsWith('.registry'))!;
      await runtime.log.ensureTopic(topic);
      const changesets = longLog(LONG_LOG_EVENTS);
      for (let i = 0; i < changesets.length; i += 500) {
        const encoded = await Promise.all(changesets.slice(i, i + 500).map((c) => runtime.registryCodec.encode(c)));
        await runtime.log.append(
          topic.name,
          encoded.map((value) => ({ key: null, value, partition: 0 })),
        );
      }
      // An independent fold of the same log, in this process.
      const follower = new RegistryFollower({ log: runtime.log, codec: runtime.registryCodec, project: repo.project });
      await follower.catchUp();
      follower.assertComplete();
      reference = follower.state;
      assert.equal(reference.lastOffset, LONG_LOG_EVENTS - 1);
      assert.ok(reference.rejections.length > 40, 'the log holds refused changesets too');
    });

    it('after kill -9 in the middle of the fold, several times, serves the state an independent fold computes', async () => {
      const kills: number[] = [];
      const step = Math.floor(reference.version / 5);
      for (let i = 1; i <= 3; i++) {
        const app = await appFor(repoDir, stateDir, FOLD_BATCH);
        const threshold = i * step;
        const seen = await waitFor(
          async () => {
            const version = await app.metricVersion();
            return version !== undefined && version >= threshold ? version : undefined;
          },
          { timeoutMs: 120_000, intervalMs: 5, description: `fold to pass version ${threshold}` },
        );
        await app.kill9();
        kills.push(seen);
        assert.ok(seen < reference.version, `kill ${i} came mid-fold (at ${seen} of ${reference.version})`);
      }
      const app = await appFor(repoDir, stateDir, FOLD_BATCH);
      const served = await servedState(app, reference.version);
      assert.deepEqual(canonicalRegistryState(served), canonicalRegistryState(reference));
      assert.equal(kills.length, 3);
      await app.stop();
    });

    it('rebuilds the identical state from offset 0 when its state is deleted', async () => {
      await removeDir(stateDir);
      const app = await appFor(repoDir, stateDir);
      const served = await servedState(app, reference.version);
      assert.deepEqual(canonicalRegistryState(served), canonicalRegistryState(reference));
      await app.stop();
    });
  });

  describe('a live registry', () => {
    let app: RegistryAppProcess;
    let project: string;
    let runtime: ProjectRuntime;

    before(async () => {
      const repo = await kafkaFeatureRepo();
      project = repo.project;
      const stateDir = await mkdtemp(join(tmpdir(), 'featurelog-regstate-'));
      cleanups.push(
        () => removeDir(repo.dir),
        () => removeDir(stateDir),
      );
      runtime = await ProjectRuntime.open(await loadProjectConfig(repo.dir));
      cleanups.push(() => runtime.close());
      app = await appFor(repo.dir, stateDir);
      await servedState(app, 0);
    });

    it('reflects an apply in the next read, and answers as of a version or a time', async () => {
      const first = await app.post<{ applied: boolean; version: number }>('/apply', {
        definitions: definitions('one'),
      });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      const view = await app.get<{ definition: { description: string } }>('/feature-views/driver_stats');
      assert.equal(view.status, 200);
      assert.equal(view.body.definition.description, 'one');

      const second = await app.post<{ version: number }>('/apply', { definitions: definitions('two', true) });
      assert.equal(second.status, 201, JSON.stringify(second.body));
      const now = await app.get<{ definition: { description: string } }>('/feature-views/driver_stats');
      assert.equal(now.body.definition.description, 'two', 'a read right after apply reflects it');

      const history = await app.get<{ versions: Array<{ offset: number; appliedAt: number }> }>(
        '/feature-views/driver_stats/history',
      );
      assert.deepEqual(
        history.body.versions.map((v) => v.offset),
        [first.body.version - 1, second.body.version - 1],
      );
      const [v1] = history.body.versions;

      const atVersion = await app.get<RegistryState>(`/registry?version=${first.body.version}`);
      assert.equal(atVersion.status, 200);
      assert.equal(atVersion.body.version, first.body.version);
      assert.equal(
        (atVersion.body.objects['feature_view/driver_stats']?.definition as { description: string }).description,
        'one',
      );
      const atTime = await app.get<{ definition: { description: string } }>(
        `/feature-views/driver_stats?time=${v1!.appliedAt}`,
      );
      assert.equal(atTime.body.definition.description, 'one');
      const iso = new Date(Math.floor(v1!.appliedAt / 1000) - 1).toISOString();
      const before = await app.get<RegistryState>(`/registry?time=${iso}`);
      assert.equal(before.body.version, 0);
      assert.deepEqual(before.body.objects, {});
      assert.equal((await app.get('/registry?version=1&time=1')).status, 400);
      assert.equal((await app.get('/registry?version=999')).status, 404);
    });

    it('refuses to serve a registry with an undecodable event, naming its offset, and /health says why', async () => {
      const [position] = await runtime.log.append(`${project}.registry`, [
        { key: null, value: Buffer.from('not a changeset'), partition: 0 },
      ]);
      const refused = await waitFor(
        async () => {
          const response = await app.get<{ code: string; message: string }>('/registry');
          return response.status === 503 ? response.body : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 50, description: 'the app to refuse serving' },
      );
      assert.equal(refused.code, 'REGISTRY_INCOMPLETE');
      assert.match(refused.message, new RegExp(`offset ${position!.offset}\\b`));
      const health = await app.get<{ status: string; checks: Record<string, { error?: string }> }>('/health');
      assert.equal(health.status, 503);
      assert.match(health.body.checks.registry?.error ?? '', new RegExp(`offset ${position!.offset}\\b`));
      assert.equal((await app.get('/feature-views/driver_stats')).status, 503);
    });
  });
});
