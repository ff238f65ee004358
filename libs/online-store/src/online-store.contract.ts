import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { compareRowVersions, FeaturelogError, type FeatureValue, type RowVersion } from '@featurelog/domain';
import type { OnlineRow, OnlineStore, OnlineViewValue, StoredViewValue } from './online-store.port';
import { decodeStoredValue } from './stored-feature-value';
import { storedText } from './view-value';
import { seededRandom } from '@featurelog/testing';

/**
 * The behaviour every OnlineStore adapter must show; each adapter's spec calls this with a factory.
 * Tests isolate themselves by unique project and consumer names, so the store may be shared.
 */
export function onlineStoreContract(adapterName: string, makeStore: () => Promise<OnlineStore>): void {
  describe(`OnlineStore contract: ${adapterName}`, () => {
    let store: OnlineStore;
    before(async () => {
      store = await makeStore();
    });
    after(async () => {
      await store.close();
    });

    it('answers ping', async () => {
      await store.ping();
    });

    it('keeps the greatest event timestamp whatever the arrival order', async () => {
      const project = uniqueProject();
      const newest = row(project, 'e1', 'v', [300, null, 0, 7], { f: 3 });
      assert.equal(await store.writeBatch({ rows: [newest] }), 1);
      assert.equal(await store.writeBatch({ rows: [row(project, 'e1', 'v', [100, null, 0, 9], { f: 1 })] }), 0);
      assert.equal(await store.writeBatch({ rows: [row(project, 'e1', 'v', [200, 999, 0, 8], { f: 2 })] }), 0);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(newest));
    });

    it('breaks event timestamp ties by created timestamp, absent lowest', async () => {
      const project = uniqueProject();
      const withCreated = row(project, 'e1', 'v', [100, 5, 0, 1], { f: 'created 5' });
      await store.writeBatch({ rows: [withCreated] });
      assert.equal(
        await store.writeBatch({ rows: [row(project, 'e1', 'v', [100, null, 0, 50], { f: 'no created' })] }),
        0,
      );
      assert.equal(await store.writeBatch({ rows: [row(project, 'e1', 'v', [100, 4, 0, 60], { f: 'created 4' })] }), 0);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(withCreated));
      const later = row(project, 'e1', 'v', [100, 6, 0, 0], { f: 'created 6' });
      assert.equal(await store.writeBatch({ rows: [later] }), 1);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(later));

      const other = uniqueProject();
      await store.writeBatch({ rows: [row(other, 'e1', 'v', [100, null, 0, 1], { f: 'no created' })] });
      const created = row(other, 'e1', 'v', [100, 0, 0, 0], { f: 'created 0' });
      assert.equal(await store.writeBatch({ rows: [created] }), 1, 'created 0 beats an absent created timestamp');
      assert.deepEqual(await readOne(store, other, 'e1', 'v'), valueOf(created));
    });

    it('breaks full timestamp ties by log offset, then partition', async () => {
      const project = uniqueProject();
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [100, 1, 0, 10], { f: 'offset 10' })] });
      const higherOffset = row(project, 'e1', 'v', [100, 1, 0, 11], { f: 'offset 11' });
      assert.equal(
        await store.writeBatch({ rows: [higherOffset, row(project, 'e1', 'v', [100, 1, 3, 9], { f: 'x' })] }),
        1,
      );
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(higherOffset));
      const higherPartition = row(project, 'e1', 'v', [100, 1, 1, 11], { f: 'partition 1' });
      assert.equal(await store.writeBatch({ rows: [higherPartition] }), 1);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(higherPartition));
    });

    it('breaks timestamp ties by source position, absent lowest, before the log position', async () => {
      const project = uniqueProject();
      const at = (sourcePosition: string | undefined, offset: number, f: string): OnlineRow => {
        const made = row(project, 'e1', 'v', [100, 1, offset % 3, offset], { f });
        if (sourcePosition !== undefined) made.version.sourcePosition = sourcePosition;
        return made;
      };
      await store.writeBatch({ rows: [at(undefined, 50, 'no position')] });
      const first = at('0000000005', 10, 'position 5');
      assert.equal(await store.writeBatch({ rows: [first] }), 1, 'a present position beats an absent one');
      assert.equal(await store.writeBatch({ rows: [at('0000000004', 90, 'position 4')] }), 0, 'whatever the offset');
      assert.equal(await store.writeBatch({ rows: [at(undefined, 99, 'no position again')] }), 0);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(first), 'read back with its position');
      const tie = at('0000000005', 11, 'same position, later offset');
      assert.equal(await store.writeBatch({ rows: [tie, at('0000000005', 10, 'position 5')] }), 1);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(tie));
      const newer = row(project, 'e1', 'v', [101, null, 0, 0], { f: 'newer event' });
      assert.equal(await store.writeBatch({ rows: [newer] }), 1, 'the event timestamp still comes first');
      await assert.rejects(store.writeBatch({ rows: [at('12ab', 1, 'x')] }), {
        code: 'INVALID_ONLINE_ROW',
        message: /sourcePosition must be 1 to 60 digits/,
      });
    });

    it('moves checkpoint offsets forward only; deleting them starts a topic again', async () => {
      const consumer = uniqueProject();
      const offset = (topic: string, partition: number, nextOffset: number) => ({ topic, partition, nextOffset });
      await store.writeBatch({ rows: [], checkpoint: { consumer, offsets: [offset('a', 0, 10), offset('a', 1, 3)] } });
      // A zombie (the partition's previous owner) finishing a batch late: it must not move offsets back.
      await store.writeBatch({
        rows: [],
        checkpoint: { consumer, offsets: [offset('a', 0, 9), offset('a', 1, 4), offset('b', 0, 1)] },
      });
      assert.deepEqual(await store.readCheckpoint(consumer), [
        offset('a', 0, 10),
        offset('a', 1, 4),
        offset('b', 0, 1),
      ]);
      await store.deleteCheckpoint(consumer, ['a']);
      assert.deepEqual(await store.readCheckpoint(consumer), [offset('b', 0, 1)]);
      await store.writeBatch({ rows: [], checkpoint: { consumer, offsets: [offset('a', 0, 2)] } });
      assert.deepEqual(await store.readCheckpoint(consumer), [offset('a', 0, 2), offset('b', 0, 1)]);
      await store.deleteCheckpoint(consumer);
      assert.deepEqual(await store.readCheckpoint(consumer), []);
    });

    it('is in the current layout once it holds rows this code wrote', async () => {
      const project = uniqueProject();
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [1, null, 0, 0], { f: 1 })] });
      assert.deepEqual(await store.checkLayout(), { current: true });
    });

    it('changes nothing when a batch is delivered again', async () => {
      const project = uniqueProject();
      const rows = [
        row(project, 'e1', 'a', [1, null, 0, 0], { f: 1, g: 'x' }),
        row(project, 'e1', 'b', [2, 2, 0, 1], { h: [1, 2] }),
        row(project, 'e2', 'a', [3, null, 1, 0], { f: null, g: 'y' }),
        row(project, 'e2', 'a', [1, null, 1, 1], { f: 9, g: 'older' }),
      ];
      const checkpoint = { consumer: uniqueProject(), offsets: [{ topic: 't', partition: 0, nextOffset: 2 }] };
      assert.equal(await store.writeBatch({ rows, checkpoint }), 3);
      const everything = [
        { entityKey: 'e1', views: ['a', 'b'] },
        { entityKey: 'e2', views: ['a', 'b'] },
      ];
      const before = await store.read(project, everything);
      assert.equal(await store.writeBatch({ rows, checkpoint }), 0);
      assert.equal(await store.writeBatch({ rows: [...rows].reverse() }), 0);
      assert.deepEqual(await store.read(project, everything), before);
      assert.deepEqual(await store.readCheckpoint(checkpoint.consumer), checkpoint.offsets);
    });

    it('counts the rows of one batch that win, each judged at its turn', async () => {
      const project = uniqueProject();
      const rows = [
        row(project, 'e1', 'v', [1, null, 0, 0], { f: 1 }),
        row(project, 'e1', 'v', [2, null, 0, 1], { f: 2 }),
        row(project, 'e1', 'v', [1, null, 0, 2], { f: 3 }),
        row(project, 'e1', 'v', [2, null, 0, 1], { f: 2 }),
      ];
      assert.equal(await store.writeBatch({ rows }), 2);
      assert.deepEqual((await readOne(store, project, 'e1', 'v'))?.features, { f: 2 });
    });

    it('stores the checkpoint with the rows and merges it per partition', async () => {
      const project = uniqueProject();
      const consumer = uniqueProject();
      assert.deepEqual(await store.readCheckpoint(consumer), []);
      await store.writeBatch({
        rows: [row(project, 'e1', 'v', [10, null, 0, 4], { f: 1 })],
        checkpoint: {
          consumer,
          offsets: [
            { topic: 'p.features.v', partition: 1, nextOffset: 7 },
            { topic: 'p.features.v', partition: 0, nextOffset: 5 },
          ],
        },
      });
      assert.notEqual(await readOne(store, project, 'e1', 'v'), null);
      // A batch whose rows all lose still moves the checkpoint: they were consumed.
      const won = await store.writeBatch({
        rows: [row(project, 'e1', 'v', [9, null, 0, 5], { f: 0 })],
        checkpoint: { consumer, offsets: [{ topic: 'p.features.v', partition: 0, nextOffset: 6 }] },
      });
      assert.equal(won, 0);
      await store.writeBatch({
        rows: [],
        checkpoint: { consumer, offsets: [{ topic: 'p.features.a', partition: 2, nextOffset: 1 }] },
      });
      assert.deepEqual(await store.readCheckpoint(consumer), [
        { topic: 'p.features.a', partition: 2, nextOffset: 1 },
        { topic: 'p.features.v', partition: 0, nextOffset: 6 },
        { topic: 'p.features.v', partition: 1, nextOffset: 7 },
      ]);
    });

    it('a checkpoint never moves backwards: a zombie batch keeps the stored offset, and its older rows lose', async () => {
      const project = uniqueProject();
      const consumer = uniqueProject();
      const topic = 'p.features.v';
      // The partition's new owner got further than the zombie before the zombie wrote.
      const newer = row(project, 'e1', 'v', [20, null, 0, 40], { f: 'new owner' });
      await store.writeBatch({
        rows: [newer],
        checkpoint: {
          consumer,
          offsets: [
            { topic, partition: 0, nextOffset: 41 },
            { topic, partition: 1, nextOffset: 3 },
          ],
        },
      });
      const won = await store.writeBatch({
        rows: [row(project, 'e1', 'v', [10, null, 0, 30], { f: 'zombie' })],
        checkpoint: {
          consumer,
          offsets: [
            { topic, partition: 0, nextOffset: 31 },
            { topic, partition: 1, nextOffset: 9 },
          ],
        },
      });
      assert.equal(won, 0);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(newer));
      assert.deepEqual(await store.readCheckpoint(consumer), [
        { topic, partition: 0, nextOffset: 41 },
        { topic, partition: 1, nextOffset: 9 },
      ]);
      await store.writeBatch({ rows: [], checkpoint: { consumer, offsets: [{ topic, partition: 0, nextOffset: 0 }] } });
      assert.deepEqual((await store.readCheckpoint(consumer))[0], { topic, partition: 0, nextOffset: 41 });
    });

    it('deletes the checkpoint of some topics, or all of it: the way to start over from offset 0', async () => {
      const consumer = uniqueProject();
      const offsets = [
        { topic: 'p.features.a', partition: 0, nextOffset: 5 },
        { topic: 'p.features.a', partition: 1, nextOffset: 6 },
        { topic: 'p.features.ab', partition: 0, nextOffset: 8 },
      ];
      await store.writeBatch({ rows: [], checkpoint: { consumer, offsets } });
      await store.deleteCheckpoint(consumer, ['p.features.a']);
      assert.deepEqual(await store.readCheckpoint(consumer), offsets.slice(2));
      await store.writeBatch({
        rows: [],
        checkpoint: { consumer, offsets: [{ topic: 'p.features.a', partition: 0, nextOffset: 1 }] },
      });
      assert.deepEqual((await store.readCheckpoint(consumer))[0], {
        topic: 'p.features.a',
        partition: 0,
        nextOffset: 1,
      });
      await store.deleteCheckpoint(consumer);
      assert.deepEqual(await store.readCheckpoint(consumer), []);
      await store.deleteCheckpoint(uniqueProject(), ['nothing stored']);
    });

    it('stores neither rows nor checkpoint of a batch it refuses', async () => {
      const project = uniqueProject();
      const consumer = uniqueProject();
      const good = row(project, 'e1', 'v', [10, null, 0, 0], { f: 1 });
      const bad = { ...row(project, 'e2', 'v', [10, null, 0, 1], { f: 1 }), view: 'has:colon' };
      await assert.rejects(
        store.writeBatch({
          rows: [good, bad],
          checkpoint: { consumer, offsets: [{ topic: 't', partition: 0, nextOffset: 2 }] },
        }),
        (error: unknown) => error instanceof FeaturelogError && error.code === 'INVALID_ONLINE_ROW' && !error.retriable,
      );
      const unsafe = row(project, 'e1', 'v', [2 ** 60, null, 0, 0], { f: 1 });
      await assert.rejects(store.writeBatch({ rows: [unsafe] }), { code: 'INVALID_ONLINE_ROW' });
      const notAValue = row(project, 'e1', 'v', [10, null, 0, 0], { f: new Date() as unknown as FeatureValue });
      await assert.rejects(store.writeBatch({ rows: [notAValue] }), { code: 'INVALID_FEATURE_VALUE' });
      assert.equal(await readOne(store, project, 'e1', 'v'), null);
      assert.deepEqual(await store.readCheckpoint(consumer), []);
    });

    it('keeps several views of one entity apart, and answers in request order', async () => {
      const project = uniqueProject();
      const a = row(project, 'e1', 'a', [5, null, 0, 0], { x: 1 });
      const b = row(project, 'e1', 'b', [1, null, 0, 0], { x: 2, y: 'b' });
      const e2 = row(project, 'e2', 'b', [9, null, 0, 1], { x: 3, y: 'e2' });
      await store.writeBatch({ rows: [a, b, e2] });
      // An older row of view b does not lose against view a's newer row.
      assert.equal(await store.writeBatch({ rows: [row(project, 'e1', 'b', [2, null, 0, 2], { x: 4, y: 'b2' })] }), 1);
      const result = await store.read(project, [
        { entityKey: 'e1', views: ['b', 'missing', 'a', 'b'] },
        { entityKey: 'nobody', views: ['a'] },
        { entityKey: 'e2', views: ['a', 'b'] },
        { entityKey: 'e1', views: [] },
      ]);
      const b2 = { version: version([2, null, 0, 2]), features: { x: 4, y: 'b2' } };
      assert.deepEqual(result, [[b2, null, valueOf(a), b2], [null], [null, valueOf(e2)], []]);
      assert.deepEqual(await store.read(project, []), []);
    });

    it('reads exactly the named features of each view, null where the winner has none', async () => {
      const project = uniqueProject();
      const stats = row(project, 'e1', 'stats', [5, null, 0, 0], { a: 1, b: 'x', c: null, sep: 'a\u001fb|c,d' });
      const geo = row(project, 'e1', 'geo', [6, 2, 1, 3], { lat: 1.5, lon: -0 });
      const other = row(project, 'e2', 'stats', [7, null, 0, 1], { a: 2 });
      await store.writeBatch({ rows: [stats, geo, other] });
      const views = ['stats', 'geo', 'never'];
      const features = [['b', 'a', 'sep', 'c', 'not_in_row'], ['lon'], ['x']];
      const result = await store.read(project, [
        { entityKey: 'e1', views, features },
        { entityKey: 'e2', views, features },
        { entityKey: 'nobody', views, features },
        // Another selection and a read of whole rows, in the same call.
        { entityKey: 'e1', views: ['geo'], features: [[]] },
        { entityKey: 'e1', views: ['geo'] },
      ]);
      assert.deepEqual(result, [
        [
          { version: stats.version, features: { b: 'x', a: 1, sep: 'a\u001fb|c,d', c: null, not_in_row: null } },
          { version: geo.version, features: { lon: -0 } },
          null,
        ],
        [{ version: other.version, features: { b: null, a: 2, sep: null, c: null, not_in_row: null } }, null, null],
        [null, null, null],
        [{ version: geo.version, features: {} }],
        [valueOf(geo)],
      ]);
      assert.ok(Object.is((result[0]![1]!.features as { lon: number }).lon, -0));
    });

    it('reads the stored text forms of named features, which decode to what read answers', async () => {
      const project = uniqueProject();
      const features = {
        n: 1.5,
        i: -0,
        s: 'a\u001fb',
        b: new Uint8Array([0, 255]),
        l: [1, null],
        nan: Number.NaN,
        z: null,
      };
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [3, 1, 0, 2], features)] });
      const requests = [
        { entityKey: 'e1', views: ['v', 'w'], features: [['z', 'nan', 'l', 'b', 's', 'i', 'n', 'absent'], ['x']] },
        { entityKey: 'e2', views: ['v'], features: [['n']] },
      ];
      const stored = await store.readStored(project, requests);
      assert.deepEqual(
        stored.map((views, i) => views.map((value, j) => texts(value, requests[i]!.features[j]!))),
        [
          [
            {
              version: version([3, 1, 0, 2]),
              stored: ['', 'NaN', '[1,null]', 'bAP8=', 'sa\u001fb', '-0', '1.5', ''],
            },
            null,
          ],
          [null],
        ],
      );
      const read = await store.read(project, requests);
      assert.deepEqual(
        stored.map((views) =>
          views.map((value, j) =>
            value === null
              ? null
              : {
                  version: value.version,
                  features: Object.fromEntries(
                    requests[0]!.features[j]!.map((name, k) => [name, decodeStoredValue(storedText(value, k))]),
                  ),
                },
          ),
        ),
        read,
      );
    });

    it('refuses a read whose feature lists do not match its views, naming both counts', async () => {
      await assert.rejects(
        store.read(uniqueProject(), [{ entityKey: 'e1', views: ['a', 'b'], features: [['x']] }]),
        (error: unknown) => error instanceof FeaturelogError && /2 views but features for 1/.test(error.message),
      );
      await assert.rejects(
        store.read(uniqueProject(), [{ entityKey: 'e1', views: ['a'], features: [['__v']] }]),
        (error: unknown) => error instanceof FeaturelogError && /features of view a: "__v"/.test(error.message),
      );
    });

    it('keeps projects apart', async () => {
      const [p1, p2] = [uniqueProject(), uniqueProject()];
      await store.writeBatch({ rows: [row(p1, 'e1', 'v', [1, null, 0, 0], { f: 'p1' })] });
      await store.writeBatch({ rows: [row(p2, 'e1', 'v', [0, null, 0, 0], { f: 'p2' })] });
      assert.equal((await readOne(store, p1, 'e1', 'v'))?.features.f, 'p1');
      assert.equal((await readOne(store, p2, 'e1', 'v'))?.features.f, 'p2');
    });

    it('stores any entity key exactly', async () => {
      const project = uniqueProject();
      const keys = ['a:b', 'x}{y', '{', '}', 'ü🌍', '', 'a\0b', 'a*?[b'];
      await store.writeBatch({ rows: keys.map((key, i) => row(project, key, 'v', [1, null, 0, i], { key })) });
      const result = await store.read(
        project,
        keys.map((entityKey) => ({ entityKey, views: ['v'] })),
      );
      assert.deepEqual(
        result.map(([value]) => value?.features.key),
        keys,
      );
    });

    it('returns null features, and never a value the winner does not carry', async () => {
      const project = uniqueProject();
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [1, null, 0, 0], { a: null, b: 1, dropped: 'old' })] });
      assert.deepEqual((await readOne(store, project, 'e1', 'v'))?.features, { a: null, b: 1, dropped: 'old' });
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [2, null, 0, 1], { a: 'now', b: null })] });
      assert.deepEqual((await readOne(store, project, 'e1', 'v'))?.features, { a: 'now', b: null });
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [0, null, 0, 2], { a: 'x', b: 2, dropped: 'older' })] });
      assert.deepEqual((await readOne(store, project, 'e1', 'v'))?.features, { a: 'now', b: null });
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [3, null, 0, 3], {})] });
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), { version: version([3, null, 0, 3]), features: {} });
    });

    it('applies a delete like any row: absent once it wins, its version kept against older rows', async () => {
      const project = uniqueProject();
      const deleted = (tuple: VersionTuple): OnlineRow => ({ ...row(project, 'e1', 'v', tuple, {}), deleted: true });
      const other = row(project, 'e1', 'w', [100, null, 0, 1], { c: 2 });
      await store.writeBatch({ rows: [row(project, 'e1', 'v', [100, null, 0, 1], { a: 1, b: 'x' }), other] });
      assert.equal(await store.writeBatch({ rows: [deleted([200, null, 0, 2])] }), 1);
      assert.equal(await readOne(store, project, 'e1', 'v'), null);
      assert.deepEqual(
        await store.read(project, [{ entityKey: 'e1', views: ['v', 'w'], features: [['a', 'b'], ['c']] }]),
        [[null, valueOf(other)]],
        'the other view of the entity keeps its values',
      );
      assert.deepEqual(await store.readStored(project, [{ entityKey: 'e1', views: ['v'], features: [['a']] }]), [
        [null],
      ]);
      assert.equal(
        await store.writeBatch({ rows: [row(project, 'e1', 'v', [150, 9, 0, 3], { a: 9, b: 'older' })] }),
        0,
        'an older row cannot bring the values back',
      );
      assert.equal(await store.writeBatch({ rows: [deleted([200, null, 0, 2])] }), 0, 'the same delete again');
      assert.equal(await readOne(store, project, 'e1', 'v'), null);
      const back = row(project, 'e1', 'v', [300, null, 0, 4], { a: 3, b: null });
      assert.equal(await store.writeBatch({ rows: [deleted([250, null, 0, 5]), back, deleted([299, null, 0, 6])] }), 2);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(back), 'a newer row wins again');
      await assert.rejects(store.writeBatch({ rows: [{ ...deleted([400, null, 0, 7]), features: { a: 1 } }] }), {
        code: 'INVALID_ONLINE_ROW',
        message: /a deleted row carries no features/,
      });
      assert.equal(await store.deleteView(project, 'v'), 1);
    });

    it('round-trips every value type exactly', async () => {
      const project = uniqueProject();
      const features: Record<string, FeatureValue> = {
        bool_true: true,
        bool_false: false,
        int32: -2_147_483_648,
        int64_max: Number.MAX_SAFE_INTEGER,
        int64_min: Number.MIN_SAFE_INTEGER,
        float32: Math.fround(0.1),
        float64: 0.1 + 0.2,
        float64_tiny: 5e-324,
        float64_huge: 1.7976931348623157e308,
        float64_negative_zero: -0,
        float64_nan: Number.NaN,
        float64_infinity: Number.POSITIVE_INFINITY,
        float64_minus_infinity: Number.NEGATIVE_INFINITY,
        string_empty: '',
        string_unicode: 'héllo wörld — 中文 🌍 "quoted" \\ | , : \n\t',
        string_numeric: '123',
        string_long_unicode: 'é🌍'.repeat(150),
        bytes: Uint8Array.from({ length: 256 }, (_, i) => i),
        bytes_empty: new Uint8Array(0),
        timestamp: 1_700_000_000_123_456,
        list_empty: [],
        list_float64: [1.5, -2.25, 1e21, 0],
        list_float_special: [Number.NaN, -0, Number.POSITIVE_INFINITY, 1],
        list_int64: [Number.MAX_SAFE_INTEGER, -1, 0],
        list_string: ['a', '', '🌍', 'with "quotes"', null],
        list_bool: [true, false, null],
        list_bytes: [Uint8Array.of(0, 255), new Uint8Array(0), null],
        list_timestamp: [1_700_000_000_000_000, 0],
        nothing: null,
      };
      await store.writeBatch({ rows: [row(project, 'e1', 'types', [1, null, 0, 0], features)] });
      const stored = await readOne(store, project, 'e1', 'types');
      assert.deepEqual(stored?.features, features);
      assert.ok(Object.is(stored?.features.float64_negative_zero, -0), '-0 keeps its sign');
      assert.ok(Object.is((stored?.features.list_float_special as number[])[1], -0), '-0 in a list keeps its sign');
    });

    it('reads a version exactly, large timestamps and offsets included', async () => {
      const project = uniqueProject();
      const big = row(
        project,
        'e1',
        'v',
        [Number.MAX_SAFE_INTEGER - 1, 4_102_444_800_000_000, 2_147_483_647, 2 ** 50],
        {},
      );
      await store.writeBatch({ rows: [big] });
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(big));
      const beyond = row(project, 'e1', 'v', [Number.MAX_SAFE_INTEGER, null, 0, 0], {});
      assert.equal(await store.writeBatch({ rows: [beyond] }), 1);
    });

    it('serves rows that carry a TTL until they may be forgotten', async () => {
      const project = uniqueProject();
      const nowMicros = Date.now() * 1_000;
      const fresh = { ...row(project, 'e1', 'v', [nowMicros, null, 0, 0], { f: 1 }), ttlSeconds: 3_600 };
      const forever = { ...row(project, 'e1', 'w', [nowMicros, null, 0, 1], { f: 2 }), ttlSeconds: 0 };
      assert.equal(await store.writeBatch({ rows: [fresh, forever] }), 2);
      assert.deepEqual(await store.read(project, [{ entityKey: 'e1', views: ['v', 'w'] }]), [
        [valueOf(fresh), valueOf(forever)],
      ]);
    });

    it('forgets a deleted view and keeps the others', async () => {
      const project = uniqueProject();
      await store.writeBatch({
        rows: [
          row(project, 'e1', 'gone', [5, null, 0, 0], { f: 1 }),
          row(project, 'e2', 'gone', [5, null, 0, 1], { f: 2 }),
          row(project, 'e1', 'kept', [5, null, 0, 0], { f: 3 }),
          row(project, 'e3', 'gone2', [5, null, 0, 0], { f: 4 }),
        ],
      });
      assert.equal(await store.deleteView(project, 'gone'), 2);
      const result = await store.read(project, [
        { entityKey: 'e1', views: ['gone', 'kept'] },
        { entityKey: 'e2', views: ['gone'] },
        { entityKey: 'e3', views: ['gone2'] },
      ]);
      assert.deepEqual(
        result.map((values) => values.map((value) => value?.features.f ?? null)),
        [[null, 3], [null], [4]],
      );
      assert.equal(await store.deleteView(project, 'gone'), 0);
    });

    it('ends with the greatest row under concurrent batches', async () => {
      const project = uniqueProject();
      const rows = Array.from({ length: 40 }, (_, i) => row(project, 'e1', 'v', [i % 13, null, 0, i], { i }));
      const wins = await Promise.all(shuffle(rows, seededRandom(7)).map((one) => store.writeBatch({ rows: [one] })));
      assert.ok(wins.reduce((sum, n) => sum + n, 0) >= 1);
      assert.deepEqual(await readOne(store, project, 'e1', 'v'), valueOf(maxRow(rows)));
    });

    it('agrees with the last-write-wins fold for random rows in random order and batches', async () => {
      for (const seed of [1, 2, 3]) {
        const random = seededRandom(seed);
        const project = uniqueProject();
        const entities = ['e0', 'e1', 'e2', 'e3', 'e4'];
        const views = ['a', 'b', 'c'];
        const used = new Set<string>();
        const rows: OnlineRow[] = [];
        while (rows.length < 300) {
          const view = pick(views, random);
          const partition = Math.floor(random() * 3);
          const offset = Math.floor(random() * 60);
          // A log position is one row of the view's topic, so it never carries two different rows.
          if (used.has(`${view}/${partition}/${offset}`)) continue;
          used.add(`${view}/${partition}/${offset}`);
          const created = random() < 0.3 ? null : Math.floor(random() * 3);
          const features = { n: Math.floor(random() * 1000), s: random() < 0.2 ? null : `r${rows.length}` };
          rows.push(
            row(
              project,
              pick(entities, random),
              view,
              [Math.floor(random() * 6), created, partition, offset],
              features,
            ),
          );
        }
        const delivered = shuffle([...rows, ...rows.filter(() => random() < 0.2)], random);

        let expectedWins = 0;
        const oracle = new Map<string, OnlineRow>();
        for (const candidate of delivered) {
          const key = `${candidate.entityKey}/${candidate.view}`;
          const held = oracle.get(key);
          if (held && compareRowVersions(candidate.version, held.version) <= 0) continue;
          oracle.set(key, candidate);
          expectedWins++;
        }

        let wins = 0;
        for (let start = 0; start < delivered.length;) {
          const size = 1 + Math.floor(random() * 40);
          wins += await store.writeBatch({ rows: delivered.slice(start, start + size) });
          start += size;
        }
        assert.equal(wins, expectedWins, `seed ${seed}: rows that won`);
        const requests = [...entities, 'e-missing'].map((entityKey) => ({ entityKey, views: [...views, 'missing'] }));
        const expected = requests.map(({ entityKey, views: wanted }) =>
          wanted.map((view) => {
            const winner = oracle.get(`${entityKey}/${view}`);
            return winner ? valueOf(winner) : null;
          }),
        );
        assert.deepEqual(await store.read(project, requests), expected, `seed ${seed}: final state`);
      }
    });
  });
}

type VersionTuple = [eventTimestamp: number, createdTimestamp: number | null, partition: number, offset: number];

function version([eventTimestamp, createdTimestamp, partition, offset]: VersionTuple): RowVersion {
  return { eventTimestamp, createdTimestamp, position: { partition, offset } };
}

function row(
  project: string,
  entityKey: string,
  view: string,
  tuple: VersionTuple,
  features: Record<string, FeatureValue>,
): OnlineRow {
  return { project, entityKey, view, version: version(tuple), features };
}

function valueOf({ version: v, features }: OnlineRow): OnlineViewValue {
  return { version: v, features };
}

function maxRow(rows: OnlineRow[]): OnlineRow {
  return rows.reduce((best, candidate) => (compareRowVersions(candidate.version, best.version) > 0 ? candidate : best));
}

async function readOne(store: OnlineStore, project: string, entityKey: string, view: string) {
  const [[value] = []] = await store.read(project, [{ entityKey, views: [view] }]);
  return value ?? null;
}

function uniqueProject(): string {
  return `p${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)]!;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** A readStored value as its version and the texts of the features asked for. */
function texts(
  value: StoredViewValue | null,
  features: readonly string[],
): { version: RowVersion; stored: string[] } | null {
  return value === null ? null : { version: value.version, stored: features.map((_, k) => storedText(value, k)) };
}
