import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyOutcome,
  evolveRegistry,
  hasChanges,
  initialRegistryState,
  planChanges,
  planToChangeset,
  validateDefinitions,
  type FeatureViewDefinition,
  type RegistryState,
  type TaggedDefinition,
} from '@featurelog/domain';
import { driverDefinitions } from './definitions.fixture';
import { seededRandom } from '@featurelog/testing';

function applied(definitions: TaggedDefinition[], state = initialRegistryState(), prune = false): RegistryState {
  const plan = planChanges(definitions, state, { prune });
  const changeset = planToChangeset(plan, {
    applyId: `apply-${state.lastOffset + 1}`,
    appliedAt: 1_000,
    author: 'ana',
  });
  const next = evolveRegistry(state, changeset, state.lastOffset + 1);
  assert.equal(applyOutcome(next, changeset.applyId)?.status, 'accepted');
  return next;
}

const statsView = (definitions: TaggedDefinition[]) =>
  definitions.find((t) => t.definition.name === 'driver_hourly_stats')!.definition as FeatureViewDefinition;

describe('planChanges', () => {
  it('creates everything on an empty registry, in dependency order', () => {
    const plan = planChanges(driverDefinitions(), initialRegistryState());
    assert.equal(plan.basedOnVersion, 0);
    assert.deepEqual(
      plan.items.map((i) => `${i.action} ${i.kind}/${i.name}`),
      [
        'create entity/driver',
        'create data_source/driver_events',
        'create feature_view/driver_hourly_stats',
        'create feature_view/driver_live',
        'create feature_service/driver_activity',
      ],
    );
    assert.ok(plan.items.every((i) => i.touchesData && i.willApply));
    assert.ok(
      plan.items[2]!.differences.some((d) => d.path === 'ttlSeconds' && d.before === undefined && d.after === 7200),
    );
  });

  it('shows nothing to do right after applying', () => {
    const state = applied(driverDefinitions());
    const plan = planChanges(driverDefinitions(), state);
    assert.equal(hasChanges(plan), false);
    assert.ok(plan.items.every((i) => i.action === 'unchanged' && i.differences.length === 0));
    assert.throws(() => planToChangeset(plan, { applyId: 'x', appliedAt: 1 }), { code: 'PLAN_EMPTY' });
  });

  it('reports field-level differences, telling data changes from metadata changes', () => {
    const state = applied(driverDefinitions());
    const desired = driverDefinitions();
    const view = statsView(desired);
    view.description = 'hourly';
    view.tags = { team: 'pricing' };
    view.features[0]!.description = 'conversion';
    let plan = planChanges(desired, state);
    const item = plan.items.find((i) => i.name === 'driver_hourly_stats')!;
    assert.equal(item.action, 'update');
    assert.equal(item.touchesData, false);
    assert.deepEqual(
      item.differences.map((d) => [d.path, d.before, d.after, d.touchesData]),
      [
        ['description', undefined, 'hourly', false],
        ['features[conv_rate].description', undefined, 'conversion', false],
        ['tags.team', 'rides', 'pricing', false],
      ],
    );

    view.features[2]!.type = 'int32';
    view.features.push({ name: 'rating', type: 'float32' });
    view.features = view.features.filter((f) => f.name !== 'acc_rate');
    view.ttlSeconds = 3600;
    plan = planChanges(desired, state);
    const data = plan.items.find((i) => i.name === 'driver_hourly_stats')!;
    assert.equal(data.touchesData, true);
    assert.deepEqual(
      data.differences.filter((d) => d.touchesData).map((d) => [d.path, d.before, d.after]),
      [
        ['features[acc_rate]', { name: 'acc_rate', type: 'float64' }, undefined],
        ['features[avg_daily_trips].type', 'int64', 'int32'],
        ['features[rating]', undefined, { name: 'rating', type: 'float32' }],
        ['ttlSeconds', 7200, 3600],
      ],
    );
  });

  it('reports feature reordering and field mapping entries as data changes', () => {
    const state = applied(driverDefinitions());
    const desired = driverDefinitions();
    statsView(desired).features.reverse();
    const source = desired.find((t) => t.kind === 'data_source')!.definition as {
      fieldMapping: Record<string, string>;
    };
    source.fieldMapping = { conversion: 'conv_rate', driver: 'driver_id', tags: 'conv_rate' };
    const items = planChanges(desired, state).items.filter((i) => i.action === 'update');
    assert.deepEqual(
      items.flatMap((i) => i.differences.map((d) => [i.name, d.path, d.touchesData])),
      [
        ['driver_events', 'fieldMapping[tags]', true],
        ['driver_hourly_stats', 'features', true],
      ],
    );
  });

  it('lists objects missing from the desired definitions as deletes, applied only with prune', () => {
    const state = applied(driverDefinitions());
    const desired = driverDefinitions().filter(
      (t) => t.kind !== 'feature_service' && t.definition.name !== 'driver_live',
    );
    const plan = planChanges(desired, state);
    const deletes = plan.items.filter((i) => i.action === 'delete');
    assert.deepEqual(
      deletes.map((i) => [i.name, i.willApply]),
      [
        ['driver_live', false],
        ['driver_activity', false],
      ],
    );
    assert.equal(hasChanges(plan), false);

    const pruned = planChanges(desired, state, { prune: true });
    assert.equal(hasChanges(pruned), true);
    const changeset = planToChangeset(pruned, { applyId: 'prune', appliedAt: 2_000 });
    // Deletes in reverse dependency order: services before the views they use.
    assert.deepEqual(
      changeset.changes.map((c) => `${c.op} ${c.kind}/${c.name}`),
      ['delete feature_service/driver_activity', 'delete feature_view/driver_live'],
    );
    assert.equal(changeset.basedOnVersion, state.version);
  });

  it('plan → apply → plan shows unchanged, for random edits (randomized)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = seededRandom(seed);
      let state = initialRegistryState();
      for (let round = 0; round < 5; round++) {
        const desired = randomDefinitions(random);
        assert.deepEqual(validateDefinitions(desired), [], `seed ${seed}`);
        const prune = random() < 0.5;
        const plan = planChanges(desired, state, { prune });
        if (hasChanges(plan)) state = applied(desired, state, prune);
        const again = planChanges(desired, state, { prune });
        assert.equal(hasChanges(again), false, `seed ${seed} round ${round}`);
        if (prune) assert.ok(again.items.every((i) => i.action === 'unchanged'));
      }
    }
  });
});

function randomDefinitions(random: () => number): TaggedDefinition[] {
  const definitions = driverDefinitions().filter(
    (t) => t.kind !== 'data_source' && t.definition.name !== 'driver_live',
  );
  const view = statsView(definitions);
  if (random() < 0.5) view.ttlSeconds = Math.floor(random() * 3) * 3600;
  if (random() < 0.5) view.description = `d${Math.floor(random() * 2)}`;
  if (random() < 0.3) view.features.push({ name: 'rating', type: random() < 0.5 ? 'float32' : 'float64' });
  if (random() < 0.3) view.features.reverse();
  if (random() < 0.3) view.tags = {};
  if (random() < 0.3) return definitions.filter((t) => t.kind !== 'feature_service');
  return definitions;
}
