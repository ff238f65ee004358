import { canonicalJson } from './canonical-json';
import { DEFINITION_KINDS, type AnyDefinition, type DefinitionKind, type TaggedDefinition } from './definitions';
import { FeaturelogError } from './errors';
import { listDefinitions, type RegistryChange, type RegistryChangeset, type RegistryState } from './registry-state';

export type PlanAction = 'create' | 'update' | 'delete' | 'unchanged';

/**
 * One field that differs. `path` is written like `features[conv_rate].type` (items of named lists are
 * matched by name, not position), `tags.team`, `ttlSeconds`; absent values are `undefined`.
 */
export interface FieldDifference {
  path: string;
  before: unknown;
  after: unknown;
  /** False when only description, tags or owner differ: nothing about topics, schemas or stored rows changes. */
  touchesData: boolean;
}

export interface PlanItem {
  action: PlanAction;
  kind: DefinitionKind;
  name: string;
  before?: AnyDefinition;
  after?: AnyDefinition;
  differences: FieldDifference[];
  /** True when any difference touches data; always true for create and delete. */
  touchesData: boolean;
  /** Whether applying the plan performs this item: false for unchanged items, and for deletes without prune. */
  willApply: boolean;
}

export interface Plan {
  /** The registry version the plan was made against; an apply of it is refused if the registry moved on. */
  basedOnVersion: number;
  prune: boolean;
  /** Sorted by kind (DEFINITION_KINDS order), then name. */
  items: PlanItem[];
  /**
   * Changes apply would refuse: the compatibility check apply runs against the schema registry, run
   * at plan time. Absent or empty when there are none.
   */
  breaking?: BreakingChange[];
  /**
   * New or changed connectors whose config the Connect worker refused (`config/validate`), with the
   * worker's own messages per field. Apply refuses a plan that has any. Absent or empty when none.
   */
  refusedConnectors?: ConnectorRefusal[];
}

/** A connector config the Connect worker refused, in the worker's words. */
export interface ConnectorRefusal {
  name: string;
  worker: string;
  connectorClass: string;
  /** Per config key (`connector.class` / `name` for the connector itself), the worker's messages. */
  errors: Array<{ field: string; messages: string[] }>;
}

/** How a refused connector reads: `connector orders_cdc: topic: Missing required configuration …; file: …`. */
export function describeConnectorRefusal(refusal: ConnectorRefusal): string {
  const fields = refusal.errors.map((e) => `${e.field}: ${e.messages.join(' / ')}`);
  return `connector ${refusal.name} (${refusal.connectorClass} on worker ${refusal.worker}): ${fields.join('; ')}`;
}

/** One change apply would refuse, in featurelog's words, with the way forward. */
export interface BreakingChange {
  kind: 'feature_view';
  name: string;
  /** The view's version in the files (the one that would be refused). */
  version: number;
  /** What is not compatible, e.g. "feature conv_rate int64 → string is not backward compatible". */
  problem: string;
  /** What to do instead, e.g. "give the view `version: 2` to start a new view version". */
  remedy: string;
}

/** How a breaking change reads: `feature_view driver_stats: <problem>; <remedy>`. */
export function describeBreakingChange(change: BreakingChange): string {
  return `${change.kind} ${change.name}: ${change.problem}; ${change.remedy}`;
}

export interface PlanOptions {
  /** Delete objects that the registry holds but the desired definitions no longer declare. */
  prune?: boolean;
}

const METADATA_FIELDS = new Set(['description', 'tags', 'owner']);
/** Keys below these are user data (source column names), never metadata field names. */
const USER_KEYED_FIELDS = new Set(['fieldMapping', 'config']);

/**
 * Compares desired definitions with the registry. Objects the registry holds but `desired` lacks
 * always appear as `delete` items, so the user sees them, but are only applied with `prune`.
 */
export function planChanges(
  desired: readonly TaggedDefinition[],
  current: RegistryState,
  { prune = false }: PlanOptions = {},
): Plan {
  const currentByKey = new Map(listDefinitions(current).map((t) => [`${t.kind}/${t.definition.name}`, t]));
  const desiredKeys = new Set<string>();
  const items: PlanItem[] = [];

  for (const tagged of desired) {
    const key = `${tagged.kind}/${tagged.definition.name}`;
    if (desiredKeys.has(key)) {
      throw new FeaturelogError(
        'DUPLICATE_DEFINITION',
        `${key} is declared more than once; validate definitions first`,
      );
    }
    desiredKeys.add(key);
    const existing = currentByKey.get(key);
    const base = { kind: tagged.kind, name: tagged.definition.name };
    if (!existing) {
      const differences = diffDefinitions(undefined, tagged.definition).map((d) => ({ ...d, touchesData: true }));
      items.push({
        ...base,
        action: 'create',
        after: tagged.definition,
        differences,
        touchesData: true,
        willApply: true,
      });
      continue;
    }
    const differences = diffDefinitions(existing.definition, tagged.definition);
    const changed = differences.length > 0;
    items.push({
      ...base,
      action: changed ? 'update' : 'unchanged',
      before: existing.definition,
      after: tagged.definition,
      differences,
      touchesData: differences.some((d) => d.touchesData),
      willApply: changed,
    });
  }
  for (const [key, existing] of currentByKey) {
    if (desiredKeys.has(key)) continue;
    const differences = diffDefinitions(existing.definition, undefined).map((d) => ({ ...d, touchesData: true }));
    items.push({
      kind: existing.kind,
      name: existing.definition.name,
      action: 'delete',
      before: existing.definition,
      differences,
      touchesData: true,
      willApply: prune,
    });
  }
  items.sort(
    (a, b) =>
      DEFINITION_KINDS.indexOf(a.kind) - DEFINITION_KINDS.indexOf(b.kind) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  return { basedOnVersion: current.version, prune, items };
}

/** Whether applying the plan would change anything. */
export function hasChanges(plan: Plan): boolean {
  return plan.items.some((item) => item.willApply);
}

/**
 * The changeset that applies the plan. Upserts come in dependency order (entities, data sources,
 * views, services) and deletes in reverse, so a consumer that handles changes one by one never sees a
 * reference to something missing. Throws PLAN_EMPTY when there is nothing to apply.
 */
export function planToChangeset(
  plan: Plan,
  { applyId, appliedAt, author }: { applyId: string; appliedAt: number; author?: string },
): RegistryChangeset {
  const applied = plan.items.filter((item) => item.willApply);
  if (applied.length === 0) throw new FeaturelogError('PLAN_EMPTY', 'the plan has no changes to apply');
  const upserts: RegistryChange[] = applied
    .filter((item) => item.action !== 'delete')
    .map((item) => ({ op: 'upsert', kind: item.kind, name: item.name, definition: item.after! }));
  const deletes: RegistryChange[] = applied
    .filter((item) => item.action === 'delete')
    .reverse()
    .map((item) => ({ op: 'delete', kind: item.kind, name: item.name }));
  const changeset: RegistryChangeset = {
    applyId,
    basedOnVersion: plan.basedOnVersion,
    appliedAt,
    changes: [...upserts, ...deletes],
  };
  if (author !== undefined) changeset.author = author;
  return changeset;
}

type Segment = { key: string } | { item: string };

/** Field-level differences between two versions of a definition (either may be undefined). */
export function diffDefinitions(
  before: AnyDefinition | undefined,
  after: AnyDefinition | undefined,
): FieldDifference[] {
  const out: FieldDifference[] = [];
  diffValues(before ?? {}, after ?? {}, [], out);
  return out;
}

function diffValues(before: unknown, after: unknown, path: Segment[], out: FieldDifference[]): void {
  if (canonicalJson(before) === canonicalJson(after)) return;
  if (isNamedList(before) && isNamedList(after)) {
    const beforeByName = new Map(before.map((item) => [item.name, item]));
    const afterByName = new Map(after.map((item) => [item.name, item]));
    for (const [name, item] of beforeByName) diffValues(item, afterByName.get(name), [...path, { item: name }], out);
    for (const [name, item] of afterByName) {
      if (!beforeByName.has(name)) diffValues(undefined, item, [...path, { item: name }], out);
    }
    const commonBefore = before.map((item) => item.name).filter((name) => afterByName.has(name));
    const commonAfter = after.map((item) => item.name).filter((name) => beforeByName.has(name));
    if (commonBefore.join('\0') !== commonAfter.join('\0')) {
      // Order matters: it is the field order of the row schema.
      out.push({ path: pathText(path), before: commonBefore, after: commonAfter, touchesData: touchesData(path) });
    }
    return;
  }
  if (isPlainObject(before) && isPlainObject(after) && !isUserKeyed(path)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) diffValues(before[key], after[key], [...path, { key }], out);
    return;
  }
  if (isPlainObject(before) && isPlainObject(after)) {
    // Maps of user data (field mappings): one difference per entry, keyed by the user's name.
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) {
      if (canonicalJson(before[key]) !== canonicalJson(after[key])) {
        const entryPath = [...path, { item: key }];
        out.push({
          path: pathText(entryPath),
          before: before[key],
          after: after[key],
          touchesData: touchesData(entryPath),
        });
      }
    }
    return;
  }
  out.push({ path: pathText(path), before, after, touchesData: touchesData(path) });
}

function isNamedList(value: unknown): value is Array<{ name: string }> {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => isPlainObject(item) && typeof item.name === 'string')
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isUserKeyed(path: Segment[]): boolean {
  const last = path[path.length - 1];
  return last !== undefined && 'key' in last && USER_KEYED_FIELDS.has(last.key);
}

function touchesData(path: Segment[]): boolean {
  return !path.some((segment, i) => {
    if (!('key' in segment) || !METADATA_FIELDS.has(segment.key)) return false;
    const parent = path[i - 1];
    return !(parent && 'key' in parent && USER_KEYED_FIELDS.has(parent.key));
  });
}

function pathText(path: Segment[]): string {
  return path.map((s, i) => ('item' in s ? `[${s.item}]` : i === 0 ? s.key : `.${s.key}`)).join('') || '(definition)';
}
