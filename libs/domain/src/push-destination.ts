/**
 * Where pushed rows should become visible (Feast's `to` of the push API). Every pushed row goes
 * through the log either way; the consumers honour the destination: the materializer skips rows for
 * the offline store only, the compactor (and the log tail an export reads) rows for the online store only.
 */
export const PUSH_DESTINATIONS = ['online', 'offline', 'online_and_offline'] as const;
export type PushDestination = (typeof PUSH_DESTINATIONS)[number];

/** Record header carrying a push's `to` when it is not both stores. No header means both. */
export const PUSH_TO_HEADER = 'featurelog-push-to';

/**
 * The destination of a row from its PUSH_TO_HEADER value. A missing header, or a value this version
 * does not know, means both stores: a row is never dropped because of a header it cannot read.
 */
export function pushDestinationOf(header: Uint8Array | undefined): PushDestination {
  if (header === undefined) return 'online_and_offline';
  if (sameAscii(header, 'offline')) return 'offline';
  if (sameAscii(header, 'online')) return 'online';
  return 'online_and_offline';
}

function sameAscii(bytes: Uint8Array, text: string): boolean {
  if (bytes.length !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
  return true;
}
