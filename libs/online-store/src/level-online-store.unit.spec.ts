import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FeaturelogError } from '@featurelog/domain';
import { LevelOnlineStore } from '@featurelog/online-store';
import { ClassicLevel } from 'classic-level';
import { onlineStoreContract } from '@featurelog/online-store/testing';

const directory = mkdtempSync(join(tmpdir(), 'featurelog-online-'));
after(() => rmSync(directory, { recursive: true, force: true }));

onlineStoreContract('classic-level', () => LevelOnlineStore.open({ path: join(directory, 'contract') }));

describe('LevelOnlineStore', () => {
  it('keeps rows and checkpoint across reopening', async () => {
    const path = join(directory, 'reopen');
    const first = await LevelOnlineStore.open({ path });
    const version = { eventTimestamp: 5, createdTimestamp: null, position: { partition: 0, offset: 3 } };
    await first.writeBatch({
      rows: [{ project: 'p', entityKey: 'e', view: 'v', version, features: { f: 1.5 } }],
      checkpoint: { consumer: 'materializer', offsets: [{ topic: 'p.features.v', partition: 0, nextOffset: 4 }] },
    });
    await first.close();
    const second = await LevelOnlineStore.open({ path });
    assert.deepEqual(await second.read('p', [{ entityKey: 'e', views: ['v'] }]), [[{ version, features: { f: 1.5 } }]]);
    assert.deepEqual(await second.readCheckpoint('materializer'), [
      { topic: 'p.features.v', partition: 0, nextOffset: 4 },
    ]);
    await second.close();
  });

  it('refuses a store of the old layout (JSON rows) until it is rebuilt', async () => {
    const path = join(directory, 'layout-1');
    // Layout 1: `[eventTs, createdTs, partition, offset, { feature: stored text }]` as JSON, no layout mark.
    const raw = new ClassicLevel<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await raw.put('r\0p\0v\0e', JSON.stringify([5, null, 0, 3, { f: '1.5' }]));
    await raw.put('c\0materializer\0p.features.v\x000', '4');
    await raw.close();
    const store = await LevelOnlineStore.open({ path });
    try {
      const check = await store.checkLayout();
      assert.equal(check.current, false);
      assert.match((check as { found: string }).found, /without a layout mark/);
      const rebuilding = (error: unknown) =>
        error instanceof FeaturelogError && error.code === 'ONLINE_STORE_REBUILDING' && error.retriable;
      await assert.rejects(store.read('p', [{ entityKey: 'e', views: ['v'] }]), rebuilding);
      await assert.rejects(
        store.writeBatch({
          rows: [
            {
              project: 'p',
              entityKey: 'e',
              view: 'v',
              version: { eventTimestamp: 6, createdTimestamp: null, position: { partition: 0, offset: 4 } },
              features: { f: 2 },
            },
          ],
        }),
        rebuilding,
      );
      await store.rebuildLayout();
      assert.deepEqual(await store.checkLayout(), { current: true });
      assert.deepEqual(await store.read('p', [{ entityKey: 'e', views: ['v'] }]), [[null]]);
      assert.deepEqual(await store.readCheckpoint('materializer'), []);
    } finally {
      await store.close();
    }
  });

  it('refuses a second opener with a retriable error', async () => {
    const path = join(directory, 'locked');
    const holder = await LevelOnlineStore.open({ path });
    await assert.rejects(
      LevelOnlineStore.open({ path }),
      (error: unknown) =>
        error instanceof FeaturelogError && error.code === 'ONLINE_STORE_UNAVAILABLE' && error.retriable,
    );
    await holder.close();
  });

  it('refuses work after close', async () => {
    const store = await LevelOnlineStore.open({ path: join(directory, 'closed') });
    await store.close();
    await assert.rejects(store.read('p', [{ entityKey: 'e', views: ['v'] }]), { code: 'ONLINE_STORE_CLOSED' });
    await assert.rejects(store.ping(), { code: 'ONLINE_STORE_UNAVAILABLE' });
  });
});
