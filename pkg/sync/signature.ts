// The receiver's block signature of a file: per block a rolling weak checksum and an xxh64 strong hash.
import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { ErrorCode, KxError, fromFsError } from './errors.ts';
import type { Hasher } from './hash.ts';
import { checkAborted } from './fileio.ts';
import { weakChecksum } from './rolling.ts';
import { SIGNATURE_CACHE_MIN_BYTES } from './signature-cache.ts';
import type { SignatureCache } from './signature-cache.ts';
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
export async function signatureOf(path: string, hasher: Hasher, signal?: AbortSignal, syncMaxBytes = 0, cache?: SignatureCache): Promise<Signature> {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO put where a file was must not hang (it is refused just below).
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fromFsError(err, path);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw new KxError(ErrorCode.InvalidArgument, `${path}: not a regular file`);
    // Only large files are kept: a small one skips the lookup (a batch signs thousands of them).
    const kept = cache !== undefined && st.size >= BigInt(SIGNATURE_CACHE_MIN_BYTES) ? cache : undefined;
    const known = kept?.get(st);
    if (known !== undefined) return known;
    const expected = Number(st.size);
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
    const sig = { blockSize, fileSize: size, weak, strong };
    // Kept only when nothing wrote to the file while it was read.
    if (kept !== undefined && sameFile(st, fstatSync(fd, { bigint: true }))) kept.set(st, sig);
    return sig;
  } catch (err) {
    throw fromFsError(err, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * The signature of content as it is written, front to back: blocks copied whole from a basis whose signature is
 * known (at a block boundary of both, same block size) take its sums over; any other block is summed from its
 * bytes. A delta's rebuild feeds it, so the file radar just wrote has its signature without being read again.
 */
export class SignatureBuilder {
  readonly #size: number;
  readonly #B: number;
  readonly #basis: Signature | null;
  readonly #hasher: Hasher;
  readonly #weak: Uint32Array;
  readonly #strong: BigUint64Array;
  /** The bytes of a block that came in pieces. */
  #stage: Uint8Array | null = null;
  #pos = 0;

  constructor(size: number, hasher: Hasher, basis?: Signature) {
    this.#size = size;
    this.#B = blockSizeFor(size);
    this.#basis = basis !== undefined && basis.blockSize === this.#B ? basis : null;
    this.#hasher = hasher;
    this.#weak = new Uint32Array(Math.ceil(size / this.#B));
    this.#strong = new BigUint64Array(this.#weak.length);
  }

  /** The next `length` bytes of the content, data[0, length); `from`: their offset in the basis, or -1. */
  add(data: Uint8Array, length: number, from: number): void {
    const B = this.#B;
    for (let off = 0; off < length && this.#pos < this.#size; ) {
      const j = Math.floor(this.#pos / B);
      const blockLen = Math.min(B, this.#size - j * B);
      const inBlock = this.#pos - j * B;
      const take = Math.min(length - off, blockLen - inBlock);
      if (inBlock === 0 && take === blockLen) {
        const i = from >= 0 && from % B === 0 ? from / B : -1;
        const basis = this.#basis;
        if (basis !== null && i >= 0 && i < basis.weak.length && Math.min(B, basis.fileSize - i * B) === blockLen) {
          this.#weak[j] = basis.weak[i];
          this.#strong[j] = basis.strong[i];
        } else this.#sum(j, data.subarray(off, off + blockLen));
      } else {
        this.#stage ??= new Uint8Array(B);
        this.#stage.set(data.subarray(off, off + take), inBlock);
        if (inBlock + take === blockLen) this.#sum(j, this.#stage.subarray(0, blockLen));
      }
      off += take;
      if (from >= 0) from += take;
      this.#pos += take;
    }
  }

  /** The signature, once exactly `size` bytes were added; else null. */
  result(): Signature | null {
    if (this.#pos !== this.#size) return null;
    return { blockSize: this.#B, fileSize: this.#size, weak: this.#weak, strong: this.#strong };
  }

  #sum(j: number, block: Uint8Array): void {
    this.#weak[j] = weakChecksum(block, 0, block.length);
    this.#strong[j] = this.#hasher.h64(block);
  }
}

/** The same file with the same content as far as its stat can tell (a write changes ctime). */
function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
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
