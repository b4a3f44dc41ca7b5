// The receiver's block signature of a file: per block a rolling weak checksum and an xxh64 strong hash.
import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import { ErrorCode, KxError, fromFsError } from './errors.ts';
import type { Hasher } from './hash.ts';
import { checkAborted } from './fileio.ts';
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

/**
 * The signature of the file at path (a final symlink is refused), streamed block by block. Files up to
 * `syncMaxBytes` are read with synchronous calls: for a small file the thread-pool round trip of each async read
 * costs more than the read itself (the receiver signs thousands of them per batch).
 */
export async function signatureOf(path: string, hasher: Hasher, signal?: AbortSignal, syncMaxBytes = 0): Promise<Signature> {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO put where a file was must not hang (it is refused just below).
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fromFsError(err, path);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new KxError(ErrorCode.InvalidArgument, `${path}: not a regular file`);
    const expected = st.size;
    const fill = expected <= syncMaxBytes ? readFullSync : readFullAsync;
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
      const r = fill(fd, buf, size);
      const n = typeof r === 'number' ? r : await r;
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
  } catch (err) {
    throw fromFsError(err, path);
  } finally {
    closeSync(fd);
  }
}

/** Read into buf from position until it is full or the file ends; returns the bytes read. */
function readFullSync(fd: number, buf: Uint8Array, position: number): number {
  let n = 0;
  for (let r = -1; n < buf.length && r !== 0; n += r) r = readSync(fd, buf, n, buf.length - n, position + n);
  return n;
}

async function readFullAsync(fd: number, buf: Uint8Array, position: number): Promise<number> {
  let n = 0;
  for (let r = -1; n < buf.length && r !== 0; n += r) r = await readAsync(fd, buf, n, buf.length - n, position + n);
  return n;
}

function readAsync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

const READ_SIZE = 1024 * 1024;

function grow(weak: Uint32Array, strong: BigUint64Array): [Uint32Array, BigUint64Array] {
  const w = new Uint32Array(weak.length * 2 + 16);
  const s = new BigUint64Array(w.length);
  w.set(weak);
  s.set(strong);
  return [w, s];
}
