// What tests that build a receiver's batches by hand share: a text's bytes, a content's digest, and the op stream
// Receiver.apply takes.
import type { Hasher } from '../../pkg/sync/hash.ts';
import type { BatchOp } from '../../pkg/sync/types.ts';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The digest a receiver verifies this content against (a string is taken as its UTF-8 bytes). */
export function contentDigest(hasher: Hasher, content: string | Uint8Array): string {
  const h = hasher.stream();
  h.update(typeof content === 'string' ? enc(content) : content);
  return h.digest();
}

/** A batch's ops as a stream, in order. */
export async function* opsOf(...list: BatchOp[]): AsyncIterable<BatchOp> {
  yield* list;
}
