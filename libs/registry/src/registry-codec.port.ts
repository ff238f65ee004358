import type { RegistryChangeset } from '@featurelog/domain';

/**
 * How a changeset is written on the registry topic. The Avro codec (Confluent wire format,
 * subject `<project>.registry-value`) is the real one; any codec works for the fold.
 */
export interface RegistryCodec {
  encode(changeset: RegistryChangeset): Promise<Buffer>;
  decode(value: Buffer): Promise<RegistryChangeset>;
}

export const REGISTRY_CODEC = Symbol('featurelog:RegistryCodec');
