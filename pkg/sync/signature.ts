// The receiver's block signature of a file: per block a rolling weak checksum and an xxh64 strong hash.
import type { Hasher } from './hash.ts';
import { checkAborted, openRegularFile, readFull } from './fileio.ts';
import { weakChecksum } from './rolling.ts';
import type { Signature } from './types.ts';

export const MIN_BLOCK_SIZE = 512;
export const MAX_BLOCK_SIZE = 128 * 1024;

/**
 * ~3·√size, a multiple of 8 within [512 B, 128 KiB]. The factor balances the signature (12 bytes a block) against
 * the literal one edit costs (one block): for 200 MB that is ~42 KiB blocks, ~57 KB of signature.
 */
export function blockSizeFor(fileSize: number): number {
  const raw = Math.floor((3 * Math.sqrt(Math.max(0, fileSize))) / 8) * 8;
  return Math.min(MAX_BLOCK_SIZE, Math.max(MIN_BLOCK_SIZE, raw));
}

/** Stream the file at path (a final symlink is refused) into its signature. */
export async function signatureOf(path: string, hasher: Hasher, signal?: AbortSignal): Promise<Signature> {
  const fh = await openRegularFile(path);
  try {
    const expected = (await fh.stat()).size;
    const blockSize = blockSizeFor(expected);
    // Whole blocks per read so no block straddles two reads; no bigger than the file (and a block to see its end
    // in one read): a small file needs no 1 MiB buffer, whose allocation and GC cost more than the read.
    const perRead = Math.max(1, Math.min(Math.floor(READ_SIZE / blockSize), Math.ceil(expected / blockSize) + 1));
    const buf = new Uint8Array(blockSize * perRead);
    let weak: Uint32Array = new Uint32Array(Math.ceil(expected / blockSize));
    let strong: BigUint64Array = new BigUint64Array(weak.length);
    let blocks = 0;
    let size = 0;
    for (;;) {
      checkAborted(signal, `signature of ${path}`);
      const n = await readFull(fh, buf, buf.length, size);
      for (let off = 0; off < n; off += blockSize) {
        const end = Math.min(n, off + blockSize);
        if (blocks === weak.length) [weak, strong] = grow(weak, strong);
        weak[blocks] = weakChecksum(buf, off, end);
        strong[blocks] = hasher.h64(buf.subarray(off, end));
        blocks++;
      }
      size += n;
      if (n < buf.length) break;
    }
    // The file may have changed size while read: describe what was read.
    if (blocks < weak.length) {
      weak = weak.slice(0, blocks);
      strong = strong.slice(0, blocks);
    }
    return { blockSize, fileSize: size, weak, strong };
  } finally {
    await fh.close();
  }
}

const READ_SIZE = 1024 * 1024;

function grow(weak: Uint32Array, strong: BigUint64Array): [Uint32Array, BigUint64Array] {
  const w = new Uint32Array(weak.length * 2 + 16);
  const s = new BigUint64Array(w.length);
  w.set(weak);
  s.set(strong);
  return [w, s];
}
