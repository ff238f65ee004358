import { FeaturelogError } from '@featurelog/domain';

/** Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian integer, then the Avro body. */
export const WIRE_MAGIC_BYTE = 0;
export const WIRE_HEADER_LENGTH = 5;

export interface WireEnvelope {
  schemaId: number;
  /** The Avro binary body; a view onto the input, not a copy. */
  body: Buffer;
}

/** Frames an Avro body: one allocation, the header written in place. */
export function encodeEnvelope(schemaId: number, body: Uint8Array): Buffer {
  assertSchemaId(schemaId);
  const framed = Buffer.allocUnsafe(WIRE_HEADER_LENGTH + body.length);
  framed[0] = WIRE_MAGIC_BYTE;
  framed.writeUInt32BE(schemaId, 1);
  framed.set(body, WIRE_HEADER_LENGTH);
  return framed;
}

/** Splits a framed message into its schema id and body. Throws WIRE_TRUNCATED or WIRE_BAD_MAGIC. */
export function decodeEnvelope(message: Uint8Array): WireEnvelope {
  if (message.length < WIRE_HEADER_LENGTH) {
    throw new FeaturelogError(
      'WIRE_TRUNCATED',
      `message of ${message.length} byte(s) is shorter than the ${WIRE_HEADER_LENGTH}-byte Confluent wire header`,
    );
  }
  if (message[0] !== WIRE_MAGIC_BYTE) {
    throw new FeaturelogError(
      'WIRE_BAD_MAGIC',
      `message starts with byte ${message[0]}, not the Confluent wire magic byte ${WIRE_MAGIC_BYTE} (not Avro in the wire format?)`,
    );
  }
  const buffer = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.length);
  return { schemaId: buffer.readUInt32BE(1), body: buffer.subarray(WIRE_HEADER_LENGTH) };
}

/** The schema id of a framed message, or undefined when it is not one (decodeEnvelope says why). */
export function wireSchemaId(message: Uint8Array): number | undefined {
  if (message.length < WIRE_HEADER_LENGTH || message[0] !== WIRE_MAGIC_BYTE) return undefined;
  return ((message[1]! << 24) >>> 0) + (message[2]! << 16) + (message[3]! << 8) + message[4]!;
}

export function assertSchemaId(schemaId: number): void {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > 0xffffffff) {
    throw new FeaturelogError('WIRE_BAD_SCHEMA_ID', `schema id ${schemaId} is not an unsigned 32-bit integer`);
  }
}
