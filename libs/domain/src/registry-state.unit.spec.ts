import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyOutcome,
  canonicalRegistryState,
  deserializeRegistryState,
  evolveRegistry,
  evolveRegistryInPlace,
  foldRegistry,
  getEntity,
  getView,
  initialRegistryState,
  listDefinitions,
  registryAsOf,
  resolveFeatureReferences,
  resolveServiceFeatures,
  serializeRegistryState,
  viewJoinKeys,
  type EntityDefinition,
  type RegistryChange,
  type RegistryChangeset,
  type RegistryState,
} from '@featurelog/domain';
import { driverDefinitions } from './definitions.fixture';
import { seededRandom } from '@featurelog/testing';

const upserts = (): RegistryChange[] =>
  driverDefinitions().map((t) => ({ op: 'upsert', kind: t.kind, name: t.definition.name, definition: t.definition }));

const entity = (name: string, description?: string): EntityDefinition => ({
  name,
  joinKeys: [{ name: `${name}_id`, type: 'int64' }],
  description,
});

function changeset(
  basedOnVersion: number,
  appliedAt: number,
  changes: RegistryChange[],
  applyId = `a${appliedAt}`,
): RegistryChangeset {
  return { applyId, basedOnVersion, appliedAt, author: 'ana', changes };
}

describe('evolveRegistry', () => {
  it('accepts a changeset based on the current version; the version becomes its offset + 1', () => {
    const state = evolveRegistry(initialRegistryState(), changeset(0, 1_000, upserts()), 0);
    assert.equal(state.version, 1);
    assert.equal(getView(state, 'driver_hourly_stats')?.ttlSeconds, 7200);
    assert.deepEqual(applyOutcome(state, 'a1000'), { status: 'accepted', offset: 0, version: 1 });
    const object = state.objects['entity/driver']!;
    assert.deepEqual(
      [object.createdAt, object.updatedAt, object.offset, object.history.length, object.deleted],
      [1_000, 1_000, 0, 1, false],
    );
  });

  it('rejects a changeset based on another version, with no effect but a recorded conflict', () => {
    const s1 = evolveRegistry(initialRegistryState(), changeset(0, 1_000, upserts()), 0);
    const s2 = evolveRegistry(
      s1,
      changeset(0, 2_000, [{ op: 'upsert', kind: 'entity', name: 'rider', definition: entity('rider') }]),
      1,
    );
    assert.equal(s2.version, 1);
    assert.equal(getEntity(s2, 'rider'), undefined);
    assert.deepEqual(applyOutcome(s2, 'a2000'), {
      status: 'rejected',
      offset: 1,
      reason: 'VERSION_CONFLICT',
      message: 'planned against registry version 0, but the registry is at version 1',
      currentVersion: 1,
    });
    // The next accepted changeset must be based on version 1 (the last ACCEPTED offset + 1), even at offset 2.
    const s3 = evolveRegistry(
      s2,
      changeset(1, 3_000, [{ op: 'upsert', kind: 'entity', name: 'rider', definition: entity('rider') }]),
      2,
    );
    assert.equal(s3.version, 3);
    assert.ok(getEntity(s3, 'rider'));
  });

  it('applies all changes of a changeset or none (atomic)', () => {
    const s1 = evolveRegistry(initialRegistryState(), changeset(0, 1_000, upserts()), 0);
    const bad = changeset(1, 2_000, [
      { op: 'upsert', kind: 'entity', name: 'rider', definition: entity('rider') },
      { op: 'delete', kind: 'entity', name: 'ghost' },
    ]);
    const s2 = evolveRegistry(s1, bad, 1);
    assert.equal(getEntity(s2, 'rider'), undefined);
    assert.equal(applyOutcome(s2, bad.applyId)?.status, 'rejected');
    assert.match((applyOutcome(s2, bad.applyId) as { message: string }).message, /entity\/ghost, which does not exist/);
  });

  it('rejects malformed changesets: empty, twice the same object, name mismatch', () => {
    const base = initialRegistryState();
    const cases: RegistryChange[][] = [
      [],
      [
        { op: 'upsert', kind: 'entity', name: 'a', definition: entity('a') },
        { op: 'upsert', kind: 'entity', name: 'a', definition: entity('a') },
      ],
      [{ op: 'upsert', kind: 'entity', name: 'a', definition: entity('b') }],
    ];
    for (const changes of cases) {
      const state = evolveRegistry(base, changeset(0, 1, changes), 0);
      assert.equal(state.version, 0);
      assert.equal(state.rejections[0]?.reason, 'MALFORMED');
    }
  });

  it('ignores redelivered offsets and refuses an applyId accepted before', () => {
    const s1 = evolveRegistry(initialRegistryState(), changeset(0, 1_000, upserts()), 0);
    assert.equal(evolveRegistry(s1, changeset(0, 1_000, upserts()), 0), s1);
    const again = evolveRegistry(s1, changeset(1, 1_000, upserts()), 1);
    assert.equal(again.version, 1);
    assert.equal(again.rejections[0]?.reason, 'DUPLICATE_APPLY');
    assert.deepEqual(applyOutcome(again, 'a1000'), { status: 'accepted', offset: 0, version: 1 });
  });

  it('keeps history, deleted objects, and restarts createdAt when an object is re-created', () => {
    let state = evolveRegistry(
      initialRegistryState(),
      changeset(0, 10, [{ op: 'upsert', kind: 'entity', name: 'e', definition: entity('e') }]),
      0,
    );
    state = evolveRegistry(
      state,
      changeset(1, 20, [{ op: 'upsert', kind: 'entity', name: 'e', definition: entity('e', 'v2') }]),
      1,
    );
    state = evolveRegistry(state, changeset(2, 30, [{ op: 'delete', kind: 'entity', name: 'e' }]), 2);
    assert.equal(getEntity(state, 'e'), undefined);
    assert.deepEqual(listDefinitions(state), []);
    const deleted = state.objects['entity/e']!;
    assert.deepEqual([deleted.deleted, deleted.createdAt, deleted.updatedAt, deleted.offset], [true, 10, 30, 2]);
    state = evolveRegistry(
      state,
      changeset(3, 40, [{ op: 'upsert', kind: 'entity', name: 'e', definition: entity('e', 'v3') }]),
      3,
    );
    const object = state.objects['entity/e']!;
    assert.deepEqual([object.deleted, object.createdAt, object.updatedAt, object.offset], [false, 40, 40, 3]);
    assert.deepEqual(
      object.history.map((h) => [h.offset, h.appliedAt, h.op, h.author]),
      [
        [0, 10, 'upsert', 'ana'],
        [1, 20, 'upsert', 'ana'],
        [2, 30, 'delete', 'ana'],
        [3, 40, 'upsert', 'ana'],
      ],
    );
  });
});

describe('registryAsOf', () => {
  const log = [
    {
      offset: 0,
      changeset: changeset(0, 100, [{ op: 'upsert', kind: 'entity', name: 'e', definition: entity('e', 'one') }]),
    },
    { offset: 1, changeset: changeset(0, 150, [{ op: 'upsert', kind: 'entity', name: 'x', definition: entity('x') }]) },
    {
      offset: 2,
      changeset: changeset(1, 200, [{ op: 'upsert', kind: 'entity', name: 'e', definition: entity('e', 'two') }]),
    },
    { offset: 3, changeset: changeset(3, 300, [{ op: 'delete', kind: 'entity', name: 'e' }]) },
  ] as const;
  const full = foldRegistry(log);

  it('equals the fold of the log before the version', () => {
    for (const version of [0, 1, 3, 4]) {
      const prefix = foldRegistry(log.filter((entry) => entry.offset < version));
      assert.deepEqual(
        canonicalRegistryState(registryAsOf(full, { version })),
        canonicalRegistryState(prefix),
        `version ${version}`,
      );
    }
    assert.equal(getEntity(registryAsOf(full, { version: 3 }), 'e')?.description, 'two');
    assert.throws(() => registryAsOf(full, { version: 2 }), { code: 'UNKNOWN_REGISTRY_VERSION' });
    assert.throws(() => registryAsOf(full, { version: 9 }), { code: 'UNKNOWN_REGISTRY_VERSION' });
  });

  it('by time, includes exactly the changesets applied at or before it', () => {
    assert.equal(registryAsOf(full, { time: 99 }).version, 0);
    assert.equal(getEntity(registryAsOf(full, { time: 100 }), 'e')?.description, 'one');
    assert.equal(getEntity(registryAsOf(full, { time: 299 }), 'e')?.description, 'two');
    assert.equal(getEntity(registryAsOf(full, { time: 300 }), 'e'), undefined);
  });
});

describe('registry lookups', () => {
  const state = evolveRegistry(initialRegistryState(), changeset(0, 1, upserts()), 0);

  it('resolves services, references and join keys', () => {
    assert.deepEqual(
      resolveServiceFeatures(state, 'driver_activity').map((f) => f.reference),
      ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:acc_rate', 'driver_hourly_stats:avg_daily_trips'],
    );
    assert.deepEqual(viewJoinKeys(state, getView(state, 'driver_live')!), [{ name: 'driver_id', type: 'int64' }]);
    assert.throws(() => resolveServiceFeatures(state, 'nope'), { code: 'UNKNOWN_FEATURE_SERVICE' });
    assert.throws(() => resolveFeatureReferences(state, ['nope:x']), { code: 'UNKNOWN_FEATURE_VIEW' });
    assert.throws(() => resolveFeatureReferences(state, ['driver_live:nope']), { code: 'UNKNOWN_FEATURE' });
    assert.throws(() => resolveFeatureReferences(state, ['driver_live']), { code: 'INVALID_FEATURE_REFERENCE' });
    // The same lookups work on plain definitions.
    assert.equal(resolveServiceFeatures(driverDefinitions(), 'driver_activity').length, 3);
  });

  it('gives a view its join keys from the registry, definitions or its entities, a shared one once', () => {
    const view = getView(state, 'driver_live')!;
    const pair = { ...view, entities: ['driver', 'fleet', 'car'] };
    const entities = [
      { name: 'car', joinKeys: [{ name: 'driver_id', type: 'int64' as const }] },
      { name: 'fleet', joinKeys: [{ name: 'fleet_id', type: 'string' as const }] },
      { name: 'driver', joinKeys: [{ name: 'driver_id', type: 'int64' as const }] },
    ];
    const tagged = entities.map((definition) => ({ kind: 'entity' as const, definition }));
    const expected = [
      { name: 'driver_id', type: 'int64' },
      { name: 'fleet_id', type: 'string' },
    ];
    assert.deepEqual(viewJoinKeys(entities, pair), expected);
    assert.deepEqual(viewJoinKeys(tagged, pair), expected);
    assert.throws(() => viewJoinKeys(entities.slice(1), pair), { code: 'UNKNOWN_ENTITY' });
    assert.throws(() => viewJoinKeys([], pair), { code: 'UNKNOWN_ENTITY' });
    const retyped = [...entities.slice(1), { name: 'car', joinKeys: [{ name: 'driver_id', type: 'string' as const }] }];
    assert.throws(() => viewJoinKeys(retyped, pair), { code: 'INVALID_FEATURE_VIEW' });
  });
});

describe('registry fold (randomized)', () => {
  function randomLog(seed: number) {
    const random = seededRandom(seed);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const names = ['a', 'b', 'c', 'd'];
    const log: Array<{ offset: number; changeset: RegistryChangeset }> = [];
    let shadow = initialRegistryState();
    for (let offset = 0; offset < 60; offset++) {
      const changes: RegistryChange[] = [];
      for (const name of names) {
        if (random() < 0.5) continue;
        const exists = !!getEntity(shadow, name);
        changes.push(
          exists && random() < 0.3
            ? { op: 'delete', kind: 'entity', name }
            : { op: 'upsert', kind: 'entity', name, definition: entity(name, `d${Math.floor(random() * 3)}`) },
        );
      }
      // Some appliers plan against a stale version, or resend an earlier changeset.
      const stale = random() < 0.25;
      const cs =
        random() < 0.1 && log.length > 0
          ? pick(log).changeset
          : changeset(
              stale ? Math.max(0, shadow.version - 1) : shadow.version,
              offset * 10,
              changes,
              `apply-${offset}`,
            );
      log.push({ offset, changeset: cs });
      shadow = evolveRegistry(shadow, cs, offset);
    }
    return log;
  }

  it('gives the same state to every folder, including one resuming from a serialized snapshot', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const log = randomLog(seed);
      const a = foldRegistry(log);
      const b = foldRegistry(log);
      assert.equal(serializeRegistryState(a), serializeRegistryState(b));

      const cut = Math.floor(log.length / 2);
      let resumed: RegistryState = deserializeRegistryState(serializeRegistryState(foldRegistry(log.slice(0, cut))));
      // Redelivery of the entries around the snapshot must not matter.
      for (const { offset, changeset: cs } of log.slice(cut - 3)) resumed = evolveRegistry(resumed, cs, offset);
      assert.deepEqual(canonicalRegistryState(resumed), canonicalRegistryState(a), `seed ${seed}`);
      assert.ok(a.applies.length > 0 && a.rejections.length > 0, `seed ${seed} should exercise both outcomes`);
    }
  });

  it('as-of every accepted version equals the fold of the log prefix', () => {
    const log = randomLog(7);
    const full = foldRegistry(log);
    for (const apply of full.applies) {
      const version = apply.offset + 1;
      const prefix = foldRegistry(log.filter((entry) => entry.offset < version));
      assert.equal(serializeRegistryState(registryAsOf(full, { version })), serializeRegistryState(prefix));
    }
  });
});

describe('evolveRegistryInPlace', () => {
  it('reaches the same state as the pure fold, including rejections and duplicates', () => {
    const changesets: Array<{ offset: number; changeset: RegistryChangeset }> = [];
    let version = 0;
    for (let offset = 0; offset < 200; offset++) {
      const stale = offset % 7 === 3;
      const duplicate = offset % 11 === 5 && offset > 0;
      const applyId = duplicate ? 'apply-0' : `apply-${offset}`;
      const name = `entity_${offset % 13}`;
      changesets.push({
        offset,
        changeset: {
          applyId,
          basedOnVersion: stale ? Math.max(0, version - 1) : version,
          appliedAt: 1_000 + offset,
          changes: [
            { op: 'upsert', kind: 'entity', name, definition: { name, joinKeys: [{ name: 'id', type: 'int64' }] } },
          ],
        },
      });
      const accepted = !(stale && version > 0) && !(duplicate && offset > 0);
      if (accepted) version = offset + 1;
    }
    const pure = foldRegistry(changesets);
    const inPlace = initialRegistryState();
    for (const { offset, changeset } of changesets) evolveRegistryInPlace(inPlace, changeset, offset);
    assert.deepEqual(canonicalRegistryState(inPlace), canonicalRegistryState(pure));
    assert.ok(inPlace.rejections.some((r) => r.reason === 'DUPLICATE_APPLY'));
    assert.ok(inPlace.rejections.some((r) => r.reason === 'VERSION_CONFLICT'));
  });
});
