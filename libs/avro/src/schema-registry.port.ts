import type { AvroSchema } from './avro-type';

/** Injection token for the schema registry port. */
export const SCHEMA_REGISTRY = Symbol('SCHEMA_REGISTRY');

/** BACKWARD: a new version must read data written with the latest one. NONE: anything goes. */
export type CompatibilityLevel = 'BACKWARD' | 'NONE';

export interface RegisteredSchema {
  /** Global, immutable schema id: what the Confluent wire format carries. */
  id: number;
  /** 1, 2, … within the subject. */
  version: number;
  schema: AvroSchema;
}

export interface RegisterOptions {
  /**
   * The schema the new one must stay BACKWARD compatible with, when the caller knows better than the
   * subject's latest version: featurelog's registry log says which version of a view is applied, and
   * an apply that lost the optimistic-concurrency race may already have registered a newer schema that
   * no row was ever written with. Without it, the subject's latest version is the baseline.
   */
  compatibleWith?: AvroSchema;
}

export interface CompatibilityResult {
  compatible: boolean;
  /** Why not, one message per problem, naming the field (empty when compatible). */
  messages: string[];
}

/**
 * A Confluent-style schema registry: schemas under subjects (`<topic>-value`), each version with a
 * global id. Every adapter checks BACKWARD compatibility locally too (checkBackwardCompatible), so a
 * refusal names the offending field the same way whatever the registry behind it.
 */
export interface SchemaRegistryPort {
  /**
   * Registers `schema` as the next version of `subject` and returns its id. Idempotent: a schema
   * already registered under the subject returns its existing id. Throws SCHEMA_INCOMPATIBLE (with
   * the problems) when the subject's compatibility level refuses it, AVRO_SCHEMA_INVALID when it
   * does not parse.
   */
  register(subject: string, schema: AvroSchema, options?: RegisterOptions): Promise<number>;
  /** The schema with this id, as parsed JSON. Throws SCHEMA_NOT_FOUND. Ids never change meaning. */
  getSchema(id: number): Promise<AvroSchema>;
  /** The latest version of a subject, or undefined if the subject has none. */
  latestVersion(subject: string): Promise<RegisteredSchema | undefined>;
  /** Whether `schema` could be registered as the next version of `subject` (always, for a new subject). */
  checkCompatibility(subject: string, schema: AvroSchema): Promise<CompatibilityResult>;
  setCompatibility(subject: string, level: CompatibilityLevel): Promise<void>;
  /** Subjects with at least one version, sorted. */
  listSubjects(): Promise<string[]>;
  close(): Promise<void>;
}
