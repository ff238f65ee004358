import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canonicalRegistryState,
  FeaturelogError,
  topicNames,
  type EntityDefinition,
  type FeatureViewDefinition,
  type RegistryChangeset,
  type TaggedDefinition,
} from '@featurelog/domain';
import { FileEventLog } from '@featurelog/log';
import { uniqueName, waitFor } from '@featurelog/testing';
import { backwardCompatibilityProblems, rowSchemaFor } from '@featurelog/avro';
import {
  RegistryApplier,
  RegistryFollower,
  type AppliedView,
  type Provisioner,
  type RegistryCodec,
  type ViewCompatibilityProblem,
} from '@featurelog/registry';

/** JSON on the wire: the fold and the applier do not depend on the codec (the Avro one has its own tests). */
const jsonCodec: RegistryCodec = {
  encode: async (changeset) => Buffer.from(JSON.stringify(changeset)),
  decode: async (value) => JSON.parse(value.toString()) as RegistryChangeset,
};

/** Checks compatibility as LogProvisioner does against the applied view, without a schema registry. */
class RecordingProvisioner implements Provisioner {
  readonly provisioned: string[] = [];
  async ensureProjectTopics(): Promise<void> {}
  async check(
    view: FeatureViewDefinition,
    entities: readonly EntityDefinition[],
    current?: AppliedView,
  ): Promise<ViewCompatibilityProblem[]> {
    if (current === undefined || current.view.version !== view.version) return [];
    return backwardCompatibilityProblems(
      rowSchemaFor(current.view, current.entities, 'p'),
      rowSchemaFor(view, entities, 'p'),
    ).map((problem) => ({ view: view.name, version: view.version, problem }));
  }
  async provision(view: FeatureViewDefinition) {
    this.provisioned.push(`${view.name}@${view.features.map((f) => `${f.name}:${f.type}`).join(',')}`);
    return {
      view: view.name,
      topic: `t.${view.name}`,
      subject: `t.${view.name}-value`,
      schemaId: 1,
      topicCreated: true,
    };
  }
}

function definitions(
  overrides: { description?: string; extraFeature?: boolean; tripsType?: 'int64' | 'string'; version?: number } = {},
): TaggedDefinition[] {
  const features: FeatureViewDefinition['features'] = [
    { name: 'conv_rate', type: 'float64' },
    { name: 'trips', type: overrides.tripsType ?? 'int64' },
  ];
  if (overrides.extraFeature) features.push({ name: 'acc_rate', type: 'float64' });
  return [
    { kind: 'entity', definition: { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' }] } },
    {
      kind: 'feature_view',
      definition: {
        name: 'driver_stats',
        version: overrides.version ?? 1,
        entities: ['driver'],
        features,
        ttlSeconds: 3600,
        online: true,
        offline: true,
        ...(overrides.description === undefined ? {} : { description: overrides.description }),
      },
    },
    { kind: 'feature_service', definition: { name: 'driver_activity', features: ['driver_stats:*'] } },
  ];
}

describe('RegistryApplier with RegistryFollower', () => {
  let directory: string;
  let log: FileEventLog;
  let project: string;
  let provisioner: RecordingProvisioner;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'registry-'));
    log = await FileEventLog.open({ directory, fsync: 'never' });
  });
  after(async () => {
    await log.close();
    await rm(directory, { recursive: true, force: true });
  });
  beforeEach(async () => {
    project = uniqueName('proj').replace(/-/g, '_');
    provisioner = new RecordingProvisioner();
    await log.ensureTopic({ name: topicNames.registry(project), partitions: 1, config: {} });
  });

  const applierFor = () => {
    const follower = new RegistryFollower({ log, codec: jsonCodec, project });
    return { follower, applier: new RegistryApplier(log, jsonCodec, follower, provisioner) };
  };

  it('applies a plan, then plans nothing, and a read after apply reflects it', async () => {
    const { applier, follower } = applierFor();
    const first = await applier.apply(definitions());
    assert.equal(first.applied, true);
    assert.equal(first.version, first.offset! + 1);
    assert.deepEqual(provisioner.provisioned, ['driver_stats@conv_rate:float64,trips:int64']);
    assert.equal(follower.state.objects['feature_view/driver_stats']?.deleted, false);
    const again = await applier.apply(definitions());
    assert.equal(again.applied, false);
    assert.ok(again.plan.items.every((item) => item.action === 'unchanged'));
  });

  it('touches no topic or schema for a metadata-only change', async () => {
    const { applier } = applierFor();
    await applier.apply(definitions());
    provisioner.provisioned.length = 0;
    const result = await applier.apply(definitions({ description: 'hourly driver statistics' }));
    assert.equal(result.applied, true);
    const item = result.plan.items.find((i) => i.name === 'driver_stats');
    assert.equal(item?.action, 'update');
    assert.equal(item?.touchesData, false);
    assert.deepEqual(provisioner.provisioned, []);
  });

  it('lets exactly one of two concurrent applies win; the other is told to re-plan', async () => {
    const a = applierFor();
    const b = applierFor();
    await a.applier.apply(definitions());
    await b.follower.catchUp();
    const results = await Promise.allSettled([
      a.applier.apply(definitions({ extraFeature: true })),
      b.applier.apply(definitions({ description: 'b was here' })),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.ok(lost[0]!.reason instanceof FeaturelogError);
    assert.equal(lost[0]!.reason.code, 'REGISTRY_VERSION_CONFLICT');
    assert.equal(lost[0]!.reason.retriable, true);
    // Re-planned against the new version, the loser's change goes through.
    const loser = results[0]!.status === 'rejected' ? a : b;
    const retry = await loser.applier.apply(
      loser === a ? definitions({ extraFeature: true }) : definitions({ description: 'b was here' }),
    );
    assert.equal(retry.applied, true);
  });

  it('refuses an incompatible change before writing anything, in featurelog type names', async () => {
    const { applier, follower } = applierFor();
    await applier.apply(definitions());
    const versionBefore = follower.state.version;
    await assert.rejects(applier.apply(definitions({ tripsType: 'string' })), (error: FeaturelogError) => {
      assert.equal(error.code, 'SCHEMA_INCOMPATIBLE');
      assert.match(error.message, /feature_view driver_stats: feature trips int64 → string is not backward compatible/);
      assert.match(error.message, /`version: 2`/);
      assert.doesNotMatch(error.message, /\blong\b/);
      return true;
    });
    await follower.catchUp();
    assert.equal(follower.state.version, versionBefore);
  });

  it('plans a breaking change as breaking, with the way forward, and a new version as not', async () => {
    const { applier } = applierFor();
    await applier.apply(definitions());
    const plan = await applier.plan(definitions({ tripsType: 'string' }));
    assert.deepEqual(plan.breaking, [
      {
        kind: 'feature_view',
        name: 'driver_stats',
        version: 1,
        problem: 'feature trips int64 → string is not backward compatible',
        remedy: 'give the view `version: 2` to start a new view version',
      },
    ]);
    assert.equal((await applier.plan(definitions({ extraFeature: true }))).breaking, undefined);
    assert.equal((await applier.plan(definitions({ tripsType: 'string', version: 2 }))).breaking, undefined);
  });

  it('deletes objects missing from the files only with prune', async () => {
    const { applier, follower } = applierFor();
    await applier.apply(definitions());
    const withoutService = definitions().filter((t) => t.kind !== 'feature_service');
    const shown = await applier.apply(withoutService);
    assert.equal(shown.applied, false);
    assert.equal(shown.plan.items.find((i) => i.kind === 'feature_service')?.action, 'delete');
    const pruned = await applier.apply(withoutService, { prune: true });
    assert.equal(pruned.applied, true);
    assert.equal(follower.state.objects['feature_service/driver_activity']?.deleted, true);
  });

  it('rebuilds the identical state from offset 0 in a fresh follower', async () => {
    const { applier, follower } = applierFor();
    await applier.apply(definitions());
    await applier.apply(definitions({ extraFeature: true }));
    const fresh = new RegistryFollower({ log, codec: jsonCodec, project });
    await fresh.catchUp();
    assert.deepEqual(canonicalRegistryState(fresh.state), canonicalRegistryState(follower.state));
  });

  it('records an unreadable event with its offset, folds the rest, and refuses to be served', async () => {
    const { applier } = applierFor();
    await applier.apply(definitions());
    const [bad] = await log.append(topicNames.registry(project), [{ key: null, value: Buffer.from('{not json') }]);
    const fresh = new RegistryFollower({ log, codec: jsonCodec, project });
    await fresh.catchUp();
    assert.equal(fresh.state.objects['entity/driver']?.deleted, false, 'events before the bad one are folded');
    assert.deepEqual(
      fresh.problems.map((p) => p.offset),
      [bad!.offset],
    );
    assert.throws(
      () => fresh.assertComplete(),
      (error: FeaturelogError) => {
        assert.equal(error.code, 'REGISTRY_INCOMPLETE');
        assert.match(error.message, new RegExp(`offset ${bad!.offset}`));
        return true;
      },
    );
  });

  it('follows the log live after start', async () => {
    const writer = applierFor();
    const reader = new RegistryFollower({ log, codec: jsonCodec, project });
    await reader.start(uniqueName('follower'));
    try {
      // Resolved by the live subscription alone: nothing here asks the reader to catch up.
      const seen = new Promise<number>((resolve) => reader.onChange((state) => resolve(state.version)));
      const result = await writer.applier.apply(definitions());
      assert.equal(await seen, result.version);
    } finally {
      await reader.stop();
    }
  });

  it('keeps following when the log fails, says why meanwhile, and catches up once it is back', async () => {
    const lateProject = uniqueName('late').replace(/-/g, '_');
    const reader = new RegistryFollower({
      log,
      codec: jsonCodec,
      project: lateProject,
      initialRetryMs: 5,
      maxRetryMs: 20,
    });
    // The registry topic does not exist yet: the tail fails and is retried.
    await reader.start('test follower');
    try {
      await waitFor(() => reader.followError, { description: 'the follow error' });
      assert.match(reader.followError!.message, /test follower cannot follow/);
      await log.ensureTopic({ name: topicNames.registry(lateProject), partitions: 1, config: {} });
      const seen = new Promise<number>((resolve) => reader.onChange((state) => resolve(state.version)));
      const writer = new RegistryApplier(
        log,
        jsonCodec,
        new RegistryFollower({ log, codec: jsonCodec, project: lateProject }),
        provisioner,
      );
      const result = await writer.apply(definitions());
      assert.equal(await seen, result.version);
      await waitFor(() => reader.followError === undefined, { description: 'the follow error to clear' });
    } finally {
      await reader.stop();
    }
  });
});
