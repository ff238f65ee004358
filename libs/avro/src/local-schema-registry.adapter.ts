import { mkdir, open, readFile, rm, stat, truncate, writeFile, appendFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FeaturelogError } from '@featurelog/domain';
import { avroType, normalizedSchemaText, parseSchema, type AvroSchema } from './avro-type';
import { checkBackwardCompatible } from './backward-compatibility';
import type {
  CompatibilityLevel,
  CompatibilityResult,
  RegisteredSchema,
  SchemaRegistryPort,
  RegisterOptions,
} from './schema-registry.port';

export interface LocalSchemaRegistryOptions {
  /** Directory holding `schemas.jsonl` (created if missing). */
  directory: string;
  /** Level for subjects never configured, as a Confluent registry's global default. */
  defaultCompatibility?: CompatibilityLevel;
  /** How long a writer waits for another process's lock before giving up (retriable). */
  lockTimeoutMs?: number;
  /** Test seam: runs after a refresh read new bytes of the store and before it folds them. */
  beforeFold?: () => Promise<void>;
}

type StoreLine =
  | { kind: 'schema'; id: number; subject: string; version: number; schema: AvroSchema }
  | { kind: 'compatibility'; subject: string; level: CompatibilityLevel };

interface Version extends RegisteredSchema {
  normalized: string;
}

const STORE_FILE = 'schemas.jsonl';
const LOCK_FILE = 'schemas.lock';

/**
 * The single-machine schema registry: an append-only JSON-lines file of (id, subject, version,
 * schema) and compatibility settings, assigning ids like a Confluent registry — global and
 * increasing, the same schema reusing its id in every subject. Several processes may share the
 * directory: each re-reads what others appended before answering from memory, and writers
 * serialize on a lock file (a lock left by a dead process is taken over). A line torn by a crash
 * is cut off by the next writer.
 */
export class LocalSchemaRegistry implements SchemaRegistryPort {
  private readonly storePath: string;
  private readonly lockPath: string;
  private readonly defaultCompatibility: CompatibilityLevel;
  private readonly lockTimeoutMs: number;
  private readonly beforeFold: (() => Promise<void>) | undefined;
  private readonly versions = new Map<string, Version[]>();
  private readonly byId = new Map<number, Version>();
  private readonly idByNormalized = new Map<string, number>();
  private readonly compatibility = new Map<string, CompatibilityLevel>();
  /** Bytes of the store file already folded into memory. */
  private readOffset = 0;
  /** Serializes this process's writers; the lock file serializes processes. */
  private writing: Promise<unknown> = Promise.resolve();

  private constructor({
    directory,
    defaultCompatibility = 'BACKWARD',
    lockTimeoutMs = 10_000,
    beforeFold,
  }: LocalSchemaRegistryOptions) {
    this.beforeFold = beforeFold;
    this.storePath = join(directory, STORE_FILE);
    this.lockPath = join(directory, LOCK_FILE);
    this.defaultCompatibility = defaultCompatibility;
    this.lockTimeoutMs = lockTimeoutMs;
  }

  static async open(options: LocalSchemaRegistryOptions): Promise<LocalSchemaRegistry> {
    await mkdir(options.directory, { recursive: true });
    const registry = new LocalSchemaRegistry(options);
    await registry.refresh();
    return registry;
  }

  async register(subject: string, schema: AvroSchema, options: RegisterOptions = {}): Promise<number> {
    const parsed = parseSchema(schema);
    avroType(parsed); // refuse what does not parse before taking the lock
    const normalized = normalizedSchemaText(parsed);
    return this.exclusively(async () => {
      await this.refresh();
      const versions = this.versions.get(subject) ?? [];
      const existing = versions.find((version) => version.normalized === normalized);
      if (existing !== undefined) return existing.id;
      const problems = this.problems(subject, parsed, options.compatibleWith);
      if (problems.length > 0) {
        throw new FeaturelogError(
          'SCHEMA_INCOMPATIBLE',
          `schema is not ${this.levelOf(subject)} compatible with subject '${subject}': ${problems.join('; ')}`,
        );
      }
      const id = this.idByNormalized.get(normalized) ?? Math.max(0, ...this.byId.keys()) + 1;
      await this.append({ kind: 'schema', id, subject, version: (versions.at(-1)?.version ?? 0) + 1, schema: parsed });
      return id;
    });
  }

  async getSchema(id: number): Promise<AvroSchema> {
    if (!this.byId.has(id)) await this.refresh();
    const version = this.byId.get(id);
    if (version === undefined)
      throw new FeaturelogError('SCHEMA_NOT_FOUND', `no schema with id ${id} in ${this.storePath}`);
    return version.schema;
  }

  async latestVersion(subject: string): Promise<RegisteredSchema | undefined> {
    await this.refresh();
    const latest = this.versions.get(subject)?.at(-1);
    return latest === undefined ? undefined : { id: latest.id, version: latest.version, schema: latest.schema };
  }

  async checkCompatibility(subject: string, schema: AvroSchema): Promise<CompatibilityResult> {
    await this.refresh();
    const messages = this.problems(subject, parseSchema(schema));
    return { compatible: messages.length === 0, messages };
  }

  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    await this.exclusively(async () => {
      await this.refresh();
      if (this.levelOf(subject) !== level || !this.compatibility.has(subject))
        await this.append({ kind: 'compatibility', subject, level });
    });
  }

  async listSubjects(): Promise<string[]> {
    await this.refresh();
    return [...this.versions.keys()].sort();
  }

  async close(): Promise<void> {
    await this.writing;
  }

  private levelOf(subject: string): CompatibilityLevel {
    return this.compatibility.get(subject) ?? this.defaultCompatibility;
  }

  private problems(subject: string, schema: AvroSchema, compatibleWith?: AvroSchema): string[] {
    const baseline = compatibleWith ?? this.versions.get(subject)?.at(-1)?.schema;
    if (baseline === undefined || this.levelOf(subject) === 'NONE') return [];
    return checkBackwardCompatible(baseline, schema);
  }

  /**
   * Folds lines other processes (or this one) appended since the last read. Refreshes run concurrently
   * (every getSchema of an unknown id starts one): each reads from the offset folded when it started, and
   * folds only the lines past the offset folded when its read returns, so two refreshes that read the same
   * bytes neither fold a line twice nor advance the offset twice (past the end of the file, hiding every
   * schema appended later).
   */
  private async refresh(): Promise<void> {
    let size: number;
    try {
      size = (await stat(this.storePath)).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw this.storeError('read', error);
    }
    const from = this.readOffset;
    if (size <= from) return;
    let handle: FileHandle | undefined;
    let chunk: Buffer;
    try {
      handle = await open(this.storePath, 'r');
      chunk = Buffer.alloc(size - from);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, from);
      chunk = chunk.subarray(0, bytesRead);
    } catch (error) {
      throw this.storeError('read', error);
    } finally {
      await handle?.close();
    }
    await this.beforeFold?.();
    // Only whole lines: a trailing fragment is being written right now, or was torn by a crash.
    const end = chunk.lastIndexOf(0x0a) + 1;
    // What another refresh folded meanwhile; offsets are always at line ends, so this is one too.
    const folded = this.readOffset - from;
    if (end <= folded) return;
    try {
      for (const line of chunk.subarray(folded, end).toString('utf8').split('\n')) {
        if (line.length > 0) this.apply(JSON.parse(line) as StoreLine);
      }
    } catch (error) {
      throw this.storeError('read', error);
    }
    this.readOffset = from + end;
  }

  private apply(line: StoreLine): void {
    if (line.kind === 'compatibility') {
      this.compatibility.set(line.subject, line.level);
      return;
    }
    const version: Version = {
      id: line.id,
      version: line.version,
      schema: line.schema,
      normalized: normalizedSchemaText(line.schema),
    };
    const versions = this.versions.get(line.subject) ?? [];
    versions.push(version);
    this.versions.set(line.subject, versions);
    this.byId.set(line.id, version);
    this.idByNormalized.set(version.normalized, line.id);
  }

  private async append(line: StoreLine): Promise<void> {
    try {
      // A fragment past what we have read can only be a torn line (we hold the lock): cut it off.
      const size = await stat(this.storePath).then(
        (stats) => stats.size,
        () => 0,
      );
      if (size > this.readOffset) await truncate(this.storePath, this.readOffset);
      const text = `${JSON.stringify(line)}\n`;
      await appendFile(this.storePath, text, { flush: true });
    } catch (error) {
      throw this.storeError('write', error);
    }
    await this.refresh();
  }

  private exclusively<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writing.then(async () => {
      await this.lock();
      try {
        return await work();
      } finally {
        await rm(this.lockPath, { force: true });
      }
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        await writeFile(this.lockPath, String(process.pid), { flag: 'wx' });
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw this.storeError('lock', error);
      }
      const holder = Number(await readFile(this.lockPath, 'utf8').catch(() => ''));
      if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) {
        await rm(this.lockPath, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new FeaturelogError(
          'SCHEMA_STORE_LOCKED',
          `schema store ${this.storePath} is locked by process ${holder} for more than ${this.lockTimeoutMs} ms`,
          {
            retriable: true,
          },
        );
      }
      // Another process is mid-write (a few milliseconds); try again shortly.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private storeError(action: string, cause: unknown): FeaturelogError {
    if (cause instanceof FeaturelogError) return cause;
    return new FeaturelogError(
      'SCHEMA_STORE_IO',
      `cannot ${action} schema store ${this.storePath}: ${(cause as Error).message}`,
      { cause, retriable: true },
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
