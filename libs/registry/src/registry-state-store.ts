import { ClassicLevel } from 'classic-level';
import {
  FeaturelogError,
  initialRegistryState,
  registryObjectKey,
  type RegistryChangeset,
  type RegistryObject,
  type RegistryObjectVersion,
  type RegistryState,
} from '@featurelog/domain';
import type { RegistryFollower, UnreadableRegistryEvent } from './registry-follower';

const META = 'meta';
const OBJECT = 'object/';
const HISTORY = 'history/';
const APPLY = 'apply/';
const REJECTION = 'rejection/';
const UNREADABLE = 'unreadable/';

/** Offsets as fixed-width keys, so LevelDB's byte order is log order. */
const offsetKey = (prefix: string, offset: number) => `${prefix}${offset.toString().padStart(16, '0')}`;

interface Meta {
  version: number;
  lastOffset: number;
}

/**
 * The registry app's projection: the folded registry in classic-level, one key per object (its
 * current version), per version in its history, per apply, rejection and unreadable offset, plus a
 * meta key with the version and checkpoint. A batch writes only what it changed, so the cost of a
 * checkpoint does not grow with an object's history. Each folded
 * batch is written in ONE LevelDB batch, so after a crash the store holds exactly the fold of a
 * prefix of the log, and the app resumes from `lastOffset + 1`.
 */
export class RegistryStateStore {
  private dirty = new Set<string>();
  /** Per object, how many of its history entries are stored. */
  private readonly savedHistory = new Map<string, number>();
  private savedApplies = 0;
  private savedRejections = 0;
  private savedUnreadable = 0;

  private constructor(private readonly db: ClassicLevel<string, string>) {}

  static async open(path: string): Promise<RegistryStateStore> {
    const db = new ClassicLevel<string, string>(path, { valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (error) {
      throw new FeaturelogError(
        'REGISTRY_STORE_UNAVAILABLE',
        `cannot open the registry state at ${path} (is another registry process using it?)`,
        { cause: error },
      );
    }
    return new RegistryStateStore(db);
  }

  async load(): Promise<{ state: RegistryState; unreadable: UnreadableRegistryEvent[] }> {
    const state = initialRegistryState();
    const unreadable: UnreadableRegistryEvent[] = [];
    const histories = new Map<string, RegistryObjectVersion[]>();
    for await (const [key, value] of this.db.iterator()) {
      if (key === META) Object.assign(state, JSON.parse(value) as Meta);
      else if (key.startsWith(OBJECT)) {
        const object = JSON.parse(value) as RegistryObject;
        state.objects[registryObjectKey(object.kind, object.name)] = object;
      } else if (key.startsWith(HISTORY)) {
        const objectKey = key.slice(HISTORY.length, key.lastIndexOf('/'));
        const history = histories.get(objectKey) ?? [];
        history.push(JSON.parse(value) as RegistryObjectVersion);
        histories.set(objectKey, history);
      } else if (key.startsWith(APPLY)) state.applies.push(JSON.parse(value));
      else if (key.startsWith(REJECTION)) state.rejections.push(JSON.parse(value));
      else if (key.startsWith(UNREADABLE)) unreadable.push(JSON.parse(value));
    }
    for (const [key, object] of Object.entries(state.objects)) {
      object.history = histories.get(key) ?? [];
      this.savedHistory.set(key, object.history.length);
    }
    this.savedApplies = state.applies.length;
    this.savedRejections = state.rejections.length;
    this.savedUnreadable = unreadable.length;
    return { state, unreadable };
  }

  /** Persists every batch the follower folds, with its checkpoint, atomically. */
  attach(follower: RegistryFollower): void {
    follower.onChange((_state, changeset: RegistryChangeset) => {
      for (const change of changeset.changes ?? []) this.dirty.add(registryObjectKey(change.kind, change.name));
    });
    follower.onFolded((state, unreadable) => this.save(state, unreadable));
  }

  private async save(state: RegistryState, unreadable: readonly UnreadableRegistryEvent[]): Promise<void> {
    const batch = this.db.batch();
    for (const key of this.dirty) {
      const object = state.objects[key];
      if (!object) continue;
      const { history, ...head } = object;
      batch.put(OBJECT + key, JSON.stringify({ ...head, history: [] }));
      for (const entry of history.slice(this.savedHistory.get(key) ?? 0)) {
        batch.put(offsetKey(`${HISTORY}${key}/`, entry.offset), JSON.stringify(entry));
      }
    }
    for (const apply of state.applies.slice(this.savedApplies)) {
      batch.put(offsetKey(APPLY, apply.offset), JSON.stringify(apply));
    }
    for (const rejection of state.rejections.slice(this.savedRejections)) {
      batch.put(offsetKey(REJECTION, rejection.offset), JSON.stringify(rejection));
    }
    for (const event of unreadable.slice(this.savedUnreadable)) {
      batch.put(offsetKey(UNREADABLE, event.offset), JSON.stringify(event));
    }
    const meta: Meta = { version: state.version, lastOffset: state.lastOffset };
    batch.put(META, JSON.stringify(meta));
    await batch.write();
    for (const key of this.dirty) {
      const object = state.objects[key];
      if (object) this.savedHistory.set(key, object.history.length);
    }
    this.dirty = new Set();
    this.savedApplies = state.applies.length;
    this.savedRejections = state.rejections.length;
    this.savedUnreadable = unreadable.length;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
