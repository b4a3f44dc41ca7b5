// ManifestRequest.known (kx.proto: repeated Entry known = 3), encoded directly from a manifest's files: the full
// sync sends every local file there before its first frame can go, and protobufjs's reflection (an object per entry,
// fromObject, then encode) cost ~5 µs a file, tens of ms for 10,000 files on that serial path. The bytes are fields 3
// of a ManifestRequest, so they follow the rest of the request's encoding as they are.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Manifest } from '../sync/types.ts';

/** The known-entries field number in ManifestRequest, and Entry's fields kx fills in for a known file. */
const KNOWN_FIELD = 3;
const PATH = 1;
const KIND = 2;
const SIZE = 4;
const MTIME_MS = 5;
const DIGEST = 6;
const WIRE_VARINT = 0;
const WIRE_LEN = 2;
/** kind = "file", as field 2's bytes. */
const FILE_KIND = Buffer.from([(KIND << 3) | WIRE_LEN, 4, ...Buffer.from('file')]);

/**
 * The manifest's files as ManifestRequest.known fields (path, kind, size, mtime and the digest when known; fields at
 * their default left out, as proto3 allows). Yields to the event loop every `sliceMs` of work, so a large tree's
 * encoding never holds other work for long.
 */
export async function encodeKnown(manifest: Manifest, sliceMs = 10): Promise<Buffer> {
  let buf = Buffer.allocUnsafe(64 * 1024);
  let pos = 0;
  let sliceStart = performance.now();
  let n = 0;
  for (const e of manifest.values()) {
    if (e.kind !== 'file') continue;
    // Whole milliseconds, as the scan records them (protobufjs truncated a fraction the same way).
    const mtimeMs = Math.trunc(e.mtimeMs);
    const pathBytes = Buffer.byteLength(e.path);
    const digestBytes = e.digest === undefined ? 0 : e.digest.length;
    const body =
      1 + varintSize(pathBytes) + pathBytes +
      FILE_KIND.length +
      (e.size === 0 ? 0 : 1 + varintSize(e.size)) +
      (mtimeMs === 0 ? 0 : 1 + int64Size(mtimeMs)) +
      (digestBytes === 0 ? 0 : 1 + varintSize(digestBytes) + digestBytes);
    const need = 1 + varintSize(body) + body;
    if (pos + need > buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + need));
      buf.copy(bigger, 0, 0, pos);
      buf = bigger;
    }
    buf[pos++] = (KNOWN_FIELD << 3) | WIRE_LEN;
    pos = writeVarint(buf, pos, body);
    buf[pos++] = (PATH << 3) | WIRE_LEN;
    pos = writeVarint(buf, pos, pathBytes);
    pos += buf.write(e.path, pos, pathBytes, 'utf8');
    pos += FILE_KIND.copy(buf, pos);
    if (e.size !== 0) {
      buf[pos++] = (SIZE << 3) | WIRE_VARINT;
      pos = writeVarint(buf, pos, e.size);
    }
    if (mtimeMs !== 0) {
      buf[pos++] = (MTIME_MS << 3) | WIRE_VARINT;
      pos = writeInt64(buf, pos, mtimeMs);
    }
    if (digestBytes !== 0) {
      buf[pos++] = (DIGEST << 3) | WIRE_LEN;
      pos = writeVarint(buf, pos, digestBytes);
      pos += buf.write(e.digest!, pos, digestBytes, 'latin1');
    }
    if ((++n & 255) === 0 && performance.now() - sliceStart >= sliceMs) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  return buf.subarray(0, pos);
}

/** Bytes of a non-negative integer (up to 2^53) as a varint. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** An int64's varint: a negative one is its 64-bit two's complement, ten bytes. */
function int64Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function writeInt64(buf: Buffer, pos: number, v: number): number {
  if (v >= 0) return writeVarint(buf, pos, v);
  let x = BigInt.asUintN(64, BigInt(v));
  while (x >= 0x80n) {
    buf[pos++] = Number(x & 0x7fn) | 0x80;
    x >>= 7n;
  }
  buf[pos++] = Number(x);
  return pos;
}
