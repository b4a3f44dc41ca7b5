// ManifestRequest.known (kx.proto: repeated Entry known = 3), encoded directly from a manifest's files: the full
// sync sends every local file there before its first frame can go, and protobufjs's reflection (an object per entry,
// fromObject, then encode) cost ~5 µs a file, tens of ms for 10,000 files on that serial path. The bytes are fields 3
// of a ManifestRequest, so they follow the rest of the request's encoding as they are.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ProtoWriter, int64Size, lenField, strField, varintField } from '../../proto/proto-writer.ts';
import type { Manifest } from '../sync/types.ts';

/** The known-entries field number in ManifestRequest, and Entry's fields kx fills in for a known file. */
const KNOWN_FIELD = 3;
const PATH = 1;
const KIND = 2;
const SIZE = 4;
const MTIME_MS = 5;
const DIGEST = 6;
/** Field 2's bytes for kind "file". */
const FILE_KIND = strField(KIND, 'file');

/**
 * The manifest's files as ManifestRequest.known fields (path, kind, size, mtime and the digest when known; fields at
 * their default left out, as proto3 allows). Yields to the event loop every `sliceMs` of work, so a large tree's
 * encoding never holds other work for long.
 */
export async function encodeKnown(manifest: Manifest, sliceMs = 10): Promise<Buffer> {
  const w = new ProtoWriter(Buffer.allocUnsafe(64 * 1024));
  let sliceStart = performance.now();
  let n = 0;
  for (const e of manifest.values()) {
    if (e.kind !== 'file') continue;
    // Whole milliseconds, as the scan records them (protobufjs truncated a fraction the same way).
    const mtimeMs = Math.trunc(e.mtimeMs);
    const digest = e.digest ?? '';
    const body = strField(PATH, e.path) + FILE_KIND + varintField(SIZE, e.size) + (mtimeMs === 0 ? 0 : 1 + int64Size(mtimeMs)) + strField(DIGEST, digest);
    const need = lenField(KNOWN_FIELD, body);
    if (w.pos + need > w.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(w.buf.length * 2, w.pos + need));
      w.buf.copy(bigger, 0, 0, w.pos);
      w.buf = bigger;
    }
    w.tagLen(KNOWN_FIELD, body);
    w.str(PATH, e.path);
    w.str(KIND, 'file');
    w.varint(SIZE, e.size);
    w.int64(MTIME_MS, mtimeMs);
    w.str(DIGEST, digest);
    if ((++n & 255) === 0 && performance.now() - sliceStart >= sliceMs) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  return w.buf.subarray(0, w.pos);
}
