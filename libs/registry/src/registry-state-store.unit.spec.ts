import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalRegistryState, topicNames, type RegistryChangeset } from '@featurelog/domain';
import { FileEventLog } from '@featurelog/log';
import { RegistryFollower, RegistryStateStore, type RegistryCodec } from '@featurelog/registry';

const jsonCodec: RegistryCodec = {
  encode: async (changeset) => Buffer.from(JSON.stringify(changeset)),
  decode: async (value) => JSON.parse(value.toString()) as RegistryChangeset,
};

function changeset(version: number, name: string): RegistryChangeset {
  return {
    applyId: `apply-${version}-${name}`,
    basedOnVersion: version,
    appliedAt: 1_700_000_000_000_000 + version,
    changes: [
      { op: 'upsert', kind: 'entity', name, definition: { name, joinKeys: [{ name: `${name}_id`, type: 'int64' }] } },
    ],
  };
}

describe('RegistryStateStore', () => {
  let directory: string;
  let log: FileEventLog;
  const project = 'store_test';
  const topic = topicNames.registry(project);

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'registry-store-'));
    log = await FileEventLog.open({ directory: join(directory, 'log'), fsync: 'never' });
    await log.ensureTopic({ name: topic, partitions: 1, config: {} });
  });

  /** Changesets for versions [from, to), each accepted in turn. */
  async function appendAccepted(from: number, to: number): Promise<void> {
    for (let version = from; version < to; version++) {
      await log.append(topic, [{ key: null, value: await jsonCodec.encode(changeset(version, `e${version}`)) }]);
    }
  }
  after(async () => {
    await log.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('resumes from its checkpoint and ends with the state a fresh fold computes', async () => {
    const path = join(directory, 'state');
    // First run folds what the log holds so far, in small batches, so several checkpoints are written.
    await appendAccepted(0, 15);
    let store = await RegistryStateStore.open(path);
    let follower = new RegistryFollower({ log, codec: jsonCodec, project, maxBatch: 4 });
    store.attach(follower);
    await follower.catchUp();
    await store.close();
    // Meanwhile the log grows: more applies, one that lost a race, one record that is not a changeset.
    await appendAccepted(15, 30);
    await log.append(topic, [{ key: null, value: await jsonCodec.encode(changeset(3, 'late')) }]);
    await log.append(topic, [{ key: null, value: Buffer.from('garbage') }]);

    store = await RegistryStateStore.open(path);
    const loaded = await store.load();
    assert.equal(loaded.state.lastOffset, 14, 'the checkpoint is where the first run stopped');
    follower = new RegistryFollower({ log, codec: jsonCodec, project, maxBatch: 4 }, loaded.state, loaded.unreadable);
    let refolded = 0;
    follower.onChange(() => void refolded++);
    store.attach(follower);
    await follower.catchUp();
    await store.close();
    assert.equal(refolded, 16, 'only the events after the checkpoint are folded again');

    const reference = new RegistryFollower({ log, codec: jsonCodec, project });
    await reference.catchUp();
    store = await RegistryStateStore.open(path);
    const reloaded = await store.load();
    await store.close();
    assert.deepEqual(canonicalRegistryState(reloaded.state), canonicalRegistryState(reference.state));
    assert.equal(reloaded.state.rejections.length, 1);
    assert.deepEqual(
      reloaded.unreadable.map((event) => event.offset),
      [31],
    );
  });
});
