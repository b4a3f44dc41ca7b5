// Literal file bytes on the wire: raw deflate when it pays. The sender decides per frame (Literal.deflated), so
// incompressible data (media, archives, binaries) costs no CPU on either side once it has proved incompressible.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ErrorCode, KxError } from '../pkg/sync/errors.ts';
import type { LiteralMsg } from './messages.ts';

// Synchronous zlib on purpose: literal chunks are ≤ 64 KiB (about a millisecond at level 1), and an async call's
// thread-pool round trip per chunk costs more than it frees on a busy node.

/** Literal frames never hold more than this many raw bytes (the engine coalesces literals to ≤ 64 KiB). */
export const MAX_LITERAL_BYTES = 1024 * 1024;
/** Below this, deflate's framing eats the gain. */
const MIN_COMPRESS_BYTES = 128;

/** Compress `data` when that saves at least 1/16 of it; `null` means it did not pay (send it raw). */
export async function deflateIfSmaller(data: Uint8Array): Promise<Uint8Array | null> {
  if (data.byteLength < MIN_COMPRESS_BYTES) return null;
  // Level 1: on loopback and LAN links the CPU is the bottleneck long before the wire is.
  const packed = deflateRawSync(data, { level: 1 });
  return packed.byteLength <= data.byteLength - (data.byteLength >> 4) ? packed : null;
}

export function rawLiteral(data: Uint8Array): LiteralMsg {
  return { data, deflated: false, rawSize: data.byteLength };
}

export function deflatedLiteral(packed: Uint8Array, rawSize: number): LiteralMsg {
  return { data: packed, deflated: true, rawSize };
}

/** The literal's raw bytes; refuses frames that inflate beyond what they announce (or beyond the frame limit). */
export async function literalBytes(m: LiteralMsg, path: string): Promise<Uint8Array> {
  if (!m.deflated) return m.data;
  if (m.rawSize > MAX_LITERAL_BYTES) {
    throw new KxError(ErrorCode.Protocol, `${path}: literal frame of ${m.rawSize} bytes exceeds ${MAX_LITERAL_BYTES}`);
  }
  let out: Buffer;
  try {
    out = inflateRawSync(m.data, { maxOutputLength: Math.max(1, m.rawSize) });
  } catch (err) {
    throw new KxError(ErrorCode.Protocol, `${path}: corrupt compressed literal (${(err as Error).message})`, { cause: err });
  }
  if (out.byteLength !== m.rawSize) {
    throw new KxError(ErrorCode.Protocol, `${path}: compressed literal inflates to ${out.byteLength} bytes, not ${m.rawSize}`);
  }
  return out;
}
