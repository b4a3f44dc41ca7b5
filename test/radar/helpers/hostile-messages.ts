// Request bodies a hostile peer sends, framed by hand (5-byte gRPC prefix + protobuf), as small on the wire as
// protobuf allows and as costly to decode: millions of empty repeated elements.
import { grpcPrefix } from './radar-process.ts';

function framed(payload: Buffer): Buffer {
  return Buffer.concat([grpcPrefix(payload.byteLength), payload]);
}

/** `n` times the two bytes `tag, 0`: an empty length-delimited element of the field `tag` names. */
function emptyElements(tag: number, n: number): Buffer {
  const b = Buffer.alloc(2 * n);
  for (let i = 0; i < b.length; i += 2) b[i] = tag;
  return b;
}

/** ManifestRequest{known: n empty Entries} (field 3, wire type 2: tag 0x1a). */
export function manifestOfEmptyEntries(n: number): Buffer {
  return framed(emptyElements(0x1a, n));
}

/** ApplyFrame{open: {target: {}}, items: n empty ApplyItems} (field 1 tag 0x0a, field 2 tag 0x12). */
export function applyFrameOfEmptyItems(n: number): Buffer {
  return framed(Buffer.concat([Buffer.from([0x0a, 0x02, 0x0a, 0x00]), emptyElements(0x12, n)]));
}

/** HandshakeRequest{protocol_version: 1}. */
export function handshake(): Buffer {
  return framed(Buffer.from([0x08, 0x01]));
}
