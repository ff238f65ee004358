import { canonicalize, canonicalJson } from './canonical-json';
import {
  DEFINITION_KINDS,
  type AnyDefinition,
  type DefinitionByKind,
  type DefinitionKind,
  type TaggedDefinition,
} from './definitions';
import { FeaturelogError } from './errors';

export type RegistryChangeOp = 'upsert' | 'delete';

/** One object changed by an apply. `definition` is required for `upsert` and absent for `delete`. */
export interface RegistryChange {
  op: RegistryChangeOp;
  kind: DefinitionKind;
  name: string;
  definition?: AnyDefinition;
}

/**
 * One apply, written as ONE event on the registry topic, so an apply is atomic by construction:
 * the fold takes all of its changes or none. `basedOnVersion` is the registry version the applier
 * planned against (optimistic concurrency, see evolveRegistry).
 */
export interface RegistryChangeset {
  /** Chosen by the applier (a UUID), so it can find out what became of its changeset. */
  applyId: string;
  basedOnVersion: number;
  /** Epoch microseconds, UTC, set by the applier. */
  appliedAt: number;
  author?: string;
  changes: RegistryChange[];
}

/** One version of one object, as the changeset at `offset` left it. */
export interface RegistryObjectVersion {
  offset: number;
  appliedAt: number;
  op: RegistryChangeOp;
  applyId: string;
  author?: string;
  /** Absent for deletes. */
  definition?: AnyDefinition;
}

/** An object the registry has ever seen; deleted objects stay, with their history, and `definition: null`. */
export interface RegistryObject {
  kind: DefinitionKind;
  name: string;
  definition: AnyDefinition | null;
  deleted: boolean;
  /** When the current life of the object began: its first upsert after the last delete. */
  createdAt: number;
  /** When it last changed, deletes included. */
  updatedAt: number;
  /** Log offset of its last change. */
  offset: number;
  /** Every change, oldest first. */
  history: RegistryObjectVersion[];
}

/** An accepted changeset, summarized, in log order. */
export interface AcceptedApply {
  applyId: string;
  offset: number;
  appliedAt: number;
  author?: string;
  changes: Array<{ op: RegistryChangeOp; kind: DefinitionKind; name: string }>;
}

export type RegistryRejectionReason = 'VERSION_CONFLICT' | 'DUPLICATE_APPLY' | 'MALFORMED';

/** A changeset the fold refused; it had no effect. */
export interface RegistryRejection {
  applyId: string;
  offset: number;
  basedOnVersion: number;
  /** The registry version at the time, which the applier should re-plan against. */
  currentVersion: number;
  reason: RegistryRejectionReason;
  message: string;
}

export interface RegistryState {
  /** Offset of the last accepted changeset + 1; 0 when none was accepted. Appliers plan against this. */
  version: number;
  /** Offset of the last changeset folded, accepted or not; -1 when none. Redelivered offsets are ignored. */
  lastOffset: number;
  /** Keyed `kind/name`. */
  objects: Record<string, RegistryObject>;
  applies: AcceptedApply[];
  rejections: RegistryRejection[];
}

export type ApplyOutcome =
  | { status: 'accepted'; offset: number; version: number }
  | { status: 'rejected'; offset: number; reason: RegistryRejectionReason; message: string; currentVersion: number };

export function initialRegistryState(): RegistryState {
  return { version: 0, lastOffset: -1, objects: {}, applies: [], rejections: [] };
}

export const registryObjectKey = (kind: DefinitionKind, name: string): string => `${kind}/${name}`;

/**
 * Folds the changeset found at log `offset` into the state (pure; the input state is not modified).
 *
 * - An offset at or below `state.lastOffset` was already folded (redelivery): the state is returned as is.
 * - The changeset is ACCEPTED only if `basedOnVersion === state.version`; then every change applies and
 *   `version` becomes `offset + 1`.
 * - Otherwise it is REJECTED and only recorded in `rejections` (reason VERSION_CONFLICT, DUPLICATE_APPLY
 *   for an applyId already accepted, MALFORMED for a changeset that is not self-consistent).
 *
 * Semantic validation of definitions is deliberately not repeated here: appliers validate before
 * writing, and a fold that depended on today's validation rules would rebuild old logs differently.
 * Every folder of the same log therefore reaches the same state.
 */
export function evolveRegistry(state: RegistryState, changeset: RegistryChangeset, offset: number): RegistryState {
  if (offset <= state.lastOffset) return state;
  const next: RegistryState = {
    ...state,
    objects: { ...state.objects },
    applies: [...state.applies],
    rejections: [...state.rejections],
  };
  evolveRegistryInPlace(next, changeset, offset);
  return next;
}

/** applyIds of a state's accepted applies, so duplicate detection is O(1) per changeset. */
const acceptedIds = new WeakMap<RegistryState, Set<string>>();

function acceptedIdsOf(state: RegistryState): Set<string> {
  let ids = acceptedIds.get(state);
  if (ids === undefined) {
    ids = new Set(state.applies.map((apply) => apply.applyId));
    acceptedIds.set(state, ids);
  }
  return ids;
}

/**
 * The same fold as evolveRegistry, but it updates `state` itself, in time proportional to the
 * changeset rather than to the registry: long-running followers fold 100k-event logs with it.
 * Objects are replaced, never changed, so a reference to an object taken earlier stays as it was.
 */
export function evolveRegistryInPlace(state: RegistryState, changeset: RegistryChangeset, offset: number): void {
  if (offset <= state.lastOffset) return;
  const reject = (reason: RegistryRejectionReason, message: string): void => {
    state.lastOffset = offset;
    state.rejections.push({
      applyId: changeset.applyId,
      offset,
      basedOnVersion: changeset.basedOnVersion,
      currentVersion: state.version,
      reason,
      message,
    });
  };

  const ids = acceptedIdsOf(state);
  if (ids.has(changeset.applyId)) {
    return reject('DUPLICATE_APPLY', `apply ${changeset.applyId} was already accepted`);
  }
  if (changeset.basedOnVersion !== state.version) {
    return reject(
      'VERSION_CONFLICT',
      `planned against registry version ${changeset.basedOnVersion}, but the registry is at version ${state.version}`,
    );
  }
  const malformed = findMalformation(state, changeset);
  if (malformed) return reject('MALFORMED', malformed);

  for (const change of changeset.changes) {
    const key = registryObjectKey(change.kind, change.name);
    const entry: RegistryObjectVersion = {
      offset,
      appliedAt: changeset.appliedAt,
      op: change.op,
      applyId: changeset.applyId,
    };
    if (changeset.author !== undefined) entry.author = changeset.author;
    if (change.op === 'upsert') entry.definition = change.definition;
    state.objects[key] = objectFromHistory(change.kind, change.name, [...(state.objects[key]?.history ?? []), entry]);
  }
  const apply: AcceptedApply = {
    applyId: changeset.applyId,
    offset,
    appliedAt: changeset.appliedAt,
    changes: changeset.changes.map(({ op, kind, name }) => ({ op, kind, name })),
  };
  if (changeset.author !== undefined) apply.author = changeset.author;
  state.applies.push(apply);
  ids.add(changeset.applyId);
  state.version = offset + 1;
  state.lastOffset = offset;
}

function findMalformation(state: RegistryState, changeset: RegistryChangeset): string | undefined {
  if (!Array.isArray(changeset.changes) || changeset.changes.length === 0) return 'the changeset has no changes';
  const touched = new Set<string>();
  for (const change of changeset.changes) {
    const key = registryObjectKey(change.kind, change.name);
    if (!(DEFINITION_KINDS as readonly string[]).includes(change.kind)) return `unknown kind "${String(change.kind)}"`;
    if (touched.has(key)) return `${key} is changed twice in one changeset`;
    touched.add(key);
    if (change.op === 'upsert') {
      if (!change.definition || change.definition.name !== change.name) {
        return `upsert of ${key} must carry a definition named "${change.name}"`;
      }
    } else if (change.op === 'delete') {
      const existing = state.objects[key];
      if (!existing || existing.deleted) return `delete of ${key}, which does not exist`;
    } else {
      return `unknown op "${String(change.op)}" for ${key}`;
    }
  }
  return undefined;
}

function objectFromHistory(kind: DefinitionKind, name: string, history: RegistryObjectVersion[]): RegistryObject {
  const last = history[history.length - 1]!;
  let lifeStart = 0;
  for (let i = 0; i < history.length - 1; i++) if (history[i]!.op === 'delete') lifeStart = i + 1;
  const deleted = last.op === 'delete';
  return {
    kind,
    name,
    definition: deleted ? null : (last.definition ?? null),
    deleted,
    createdAt: history[lifeStart]!.appliedAt,
    updatedAt: last.appliedAt,
    offset: last.offset,
    history,
  };
}

/** Folds a whole log (entries in offset order) from the initial state. */
export function foldRegistry(log: Iterable<{ offset: number; changeset: RegistryChangeset }>): RegistryState {
  let state = initialRegistryState();
  for (const { offset, changeset } of log) state = evolveRegistry(state, changeset, offset);
  return state;
}

/** What became of an apply: accepted (at which version), rejected (why), or undefined when not folded yet. */
export function applyOutcome(state: RegistryState, applyId: string): ApplyOutcome | undefined {
  const accepted = state.applies.find((apply) => apply.applyId === applyId);
  if (accepted) return { status: 'accepted', offset: accepted.offset, version: accepted.offset + 1 };
  const rejection = state.rejections.findLast((r) => r.applyId === applyId);
  if (!rejection) return undefined;
  const { offset, reason, message, currentVersion } = rejection;
  return { status: 'rejected', offset, reason, message, currentVersion };
}

export type RegistryBound = { version: number } | { time: number };

/**
 * The registry as it was, equal to folding only the log entries with offset < V, where
 * - `{ version: V }`: V must be 0 or a version the registry had (an accepted offset + 1);
 * - `{ time: T }` (micros): V is the version reached by the accepted changesets that precede the first
 *   one applied after T, so nothing applied after T is ever included even if appliers' clocks disagree.
 */
export function registryAsOf(state: RegistryState, bound: RegistryBound): RegistryState {
  let version: number;
  if ('version' in bound) {
    version = bound.version;
    const exists = version === 0 || state.applies.some((apply) => apply.offset + 1 === version);
    if (!exists) {
      throw new FeaturelogError(
        'UNKNOWN_REGISTRY_VERSION',
        `registry version ${version} never existed (current version ${state.version})`,
      );
    }
  } else {
    const firstAfter = state.applies.findIndex((apply) => apply.appliedAt > bound.time);
    const included = firstAfter === -1 ? state.applies : state.applies.slice(0, firstAfter);
    version = included.length === 0 ? 0 : included[included.length - 1]!.offset + 1;
  }
  if (version === state.version && state.lastOffset === version - 1) return state;

  const objects: Record<string, RegistryObject> = {};
  for (const [key, object] of Object.entries(state.objects)) {
    const history = object.history.filter((entry) => entry.offset < version);
    if (history.length > 0) objects[key] = objectFromHistory(object.kind, object.name, history);
  }
  return {
    version,
    lastOffset: version - 1,
    objects,
    applies: state.applies.filter((apply) => apply.offset < version),
    rejections: state.rejections.filter((rejection) => rejection.offset < version),
  };
}

/** Text that is identical for two states exactly when they hold the same content (keys sorted, undefined dropped). */
export function serializeRegistryState(state: RegistryState): string {
  return canonicalJson(state);
}

export function deserializeRegistryState(text: string): RegistryState {
  return JSON.parse(text) as RegistryState;
}

/** The state as a plain canonical value, for deep-equality checks (`assert.deepStrictEqual`). */
export function canonicalRegistryState(state: RegistryState): unknown {
  return canonicalize(state);
}

/** Where definitions can be looked up: the registry state, or a list of (desired) definitions. */
export type DefinitionSource = RegistryState | readonly TaggedDefinition[];

export function findDefinition<K extends DefinitionKind>(
  source: DefinitionSource,
  kind: K,
  name: string,
): DefinitionByKind[K] | undefined {
  if (Array.isArray(source)) {
    const found = (source as readonly TaggedDefinition[]).find((t) => t.kind === kind && t.definition.name === name);
    return found?.definition as DefinitionByKind[K] | undefined;
  }
  const object = (source as RegistryState).objects[registryObjectKey(kind, name)];
  return (object?.deleted ? undefined : (object?.definition ?? undefined)) as DefinitionByKind[K] | undefined;
}

/** Like findDefinition, but throws UNKNOWN_<KIND> naming what is missing. */
export function requireDefinition<K extends DefinitionKind>(
  source: DefinitionSource,
  kind: K,
  name: string,
): DefinitionByKind[K] {
  const definition = findDefinition(source, kind, name);
  if (!definition) throw new FeaturelogError(`UNKNOWN_${kind.toUpperCase()}`, `${kind} "${name}" is not defined`);
  return definition;
}

export const getEntity = (source: DefinitionSource, name: string) => findDefinition(source, 'entity', name);
export const getDataSource = (source: DefinitionSource, name: string) => findDefinition(source, 'data_source', name);
export const getView = (source: DefinitionSource, name: string) => findDefinition(source, 'feature_view', name);
export const getService = (source: DefinitionSource, name: string) => findDefinition(source, 'feature_service', name);

/** Current (not deleted) definitions, sorted by kind (in DEFINITION_KINDS order) then name. */
export function listDefinitions(state: RegistryState, kind?: DefinitionKind): TaggedDefinition[] {
  const out: TaggedDefinition[] = [];
  for (const object of Object.values(state.objects)) {
    if (object.deleted || object.definition === null || (kind && object.kind !== kind)) continue;
    out.push({ kind: object.kind, definition: object.definition } as TaggedDefinition);
  }
  return out.sort(
    (a, b) =>
      DEFINITION_KINDS.indexOf(a.kind) - DEFINITION_KINDS.indexOf(b.kind) ||
      (a.definition.name < b.definition.name ? -1 : a.definition.name > b.definition.name ? 1 : 0),
  );
}
