// A write's content rebuilt from what the sender streamed (literal bytes, and for a delta copy ops against the
// file already there) and verified against the size and digest it promised: in memory for a small file, into a
// file for a large one, by the one engine function (applyDelta) either way.
import { close, closeSync, fstatSync, lstatSync } from 'node:fs';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import { digestHex, type Hasher } from '../sync/hash.ts';
import { applyDelta } from '../sync/patch.ts';
import type { ContentObserver, DeltaBasis, DeltaOut } from '../sync/patch.ts';
import { MAX_BLOCK_SIZE, SignatureBuilder } from '../sync/signature.ts';
import { SIGNATURE_CACHE_MIN_BYTES } from '../sync/signature-cache.ts';
import type { FileStats, SignatureCache } from '../sync/signature-cache.ts';
import type { DeltaOp, RelPath, WriteOp } from '../sync/types.ts';
import type { Dir } from './dir.ts';
import { asyncIo, memoryOut, syncIo } from './file-io.ts';

/**
 * Rebuild op's content from `body` into `out`, against `basis` for a delta; throws DIGEST_MISMATCH naming the path
 * when it is not what the op promised (the sender then resends the file whole). `digestAtEnd` is asked only once
 * the body was read through.
 */
export async function rebuild(op: WriteOp, basis: DeltaBasis | null, body: AsyncIterable<DeltaOp> | Iterable<DeltaOp>, out: DeltaOut, hasher: Hasher, digestAtEnd?: () => string, observer?: ContentObserver): Promise<void> {
  const blockSize = checkBlockSize(op);
  let result;
  try {
    result = await applyDelta(basis, blockSize, body, out, hasher, op.size, observer);
  } catch (err) {
    throw err instanceof KxError ? new KxError(err.code, `${op.path}: ${err.message}`, { cause: err }) : fromFsError(err, op.path);
  }
  const expected = expectedDigest(op, digestAtEnd);
  if (result.digest !== expected || result.size !== op.size) {
    throw mismatch(op.path, `rebuilt ${result.size} bytes with digest ${result.digest}, expected ${op.size} bytes with ${expected}`);
  }
}

/**
 * A small write's content rebuilt in memory (a delta's basis read synchronously: openBasis 'sync') and verified,
 * before anything is written. The basis is closed.
 */
export async function rebuildInMemory(op: WriteOp, basis: (DeltaBasis & { close(): void }) | null, ops: readonly DeltaOp[], hasher: Hasher, digestAtEnd?: () => string): Promise<Uint8Array> {
  const only = ops.length === 1 ? ops[0] : undefined;
  if (basis === null && only?.kind === 'literal' && only.data.byteLength === op.size) {
    // The whole file in one literal (a small file sent whole): verified and written as it came, not copied first.
    // Every literal's producer (the frame reader, wholeFile, smallFile, the delta encoder) hands over a buffer of its
    // own that it never reuses, so what was verified is what gets written. Hashed in one call, as the sender did.
    const digest = digestHex(hasher.h64(only.data));
    const expected = expectedDigest(op, digestAtEnd);
    if (digest !== expected) throw mismatch(op.path, `rebuilt ${op.size} bytes with digest ${digest}, expected ${op.size} bytes with ${expected}`);
    return only.data;
  }
  const out = Buffer.allocUnsafe(op.size);
  try {
    await rebuild(op, basis, ops, memoryOut(out), hasher, digestAtEnd);
  } finally {
    basis?.close();
  }
  return out;
}

/**
 * The basis of a delta: entry `name` of `dir`, read synchronously or on the thread pool. Gone, a symlink or not a
 * regular file, it is a basis that changed since its signature: its first read fails with DIGEST_MISMATCH (rebuild
 * names the path), so a delta of literals only still applies.
 */
export function openBasis(dir: Dir, name: string, path: RelPath, speed: 'sync' | 'async'): Basis {
  const fd = dir.openFile(name, path);
  if (fd === null) {
    return {
      read: () => {
        throw new KxError(ErrorCode.DigestMismatch, 'basis changed: gone, a symlink or not a regular file');
      },
      close: () => undefined,
      stats: () => undefined,
    };
  }
  const io = speed === 'sync' ? syncIo(fd) : asyncIo(fd);
  // A large basis is closed on the thread pool: once its name was replaced, that close is the file's last
  // reference, and freeing its pages and blocks is the kernel's slow part (~50 ms for 200 MiB on ext4).
  const release = speed === 'sync' ? () => closeSync(fd) : () => close(fd, () => undefined);
  return { read: (buffer, offset, length, position) => io.read(buffer, offset, length, position), close: release, stats: () => fstatSync(fd, { bigint: true }) };
}

/** A delta's basis, opened by openBasis. */
export interface Basis extends DeltaBasis {
  close(): void;
  /** The open file's stat (undefined: no file); read while it is open. */
  stats(): FileStats | undefined;
}

/**
 * The signature of a large file a write produces, built as it is rebuilt (most of it taken over from the basis's
 * signature when `cache` holds that) and kept in `cache` once the file is in place, so the next delta of the file
 * is made against a signature radar did not have to read the file for. Undefined below the cache's minimum size.
 */
export class Signing {
  readonly builder: SignatureBuilder;
  readonly #cache: SignatureCache;
  readonly #basis: FileStats | undefined;
  #ino: bigint | undefined;

  static for(op: WriteOp, basis: Basis | null, cache: SignatureCache | undefined, hasher: Hasher): Signing | undefined {
    if (cache === undefined || op.size < SIGNATURE_CACHE_MIN_BYTES) return undefined;
    return new Signing(op.size, basis?.stats(), cache, hasher);
  }

  private constructor(size: number, basis: FileStats | undefined, cache: SignatureCache, hasher: Hasher) {
    this.#cache = cache;
    this.#basis = basis;
    this.builder = new SignatureBuilder(size, hasher, basis === undefined ? undefined : cache.get(basis));
  }

  /** The rebuilt content is complete and verified in the temp file `fd`. */
  wrote(fd: number): void {
    this.#ino = fstatSync(fd, { bigint: true }).ino;
  }

  /**
   * The temp file was renamed to `name` in `dir`: its signature is kept under the stat it has there now (a write
   * by someone else since the rename gives a stale entry: a delta against it fails its digest check, no harm done).
   */
  placed(dir: Dir, name: string): void {
    if (this.#basis !== undefined) this.#cache.delete(this.#basis);
    const sig = this.builder.result();
    let st;
    try {
      st = lstatSync(dir.at(name), { bigint: true, throwIfNoEntry: false });
    } catch {
      return; // the file is in place; its signature is only not kept
    }
    if (sig !== null && st !== undefined && st.isFile() && st.ino === this.#ino) this.#cache.set(st, sig);
  }
}

/** A delta's block size, refused (DIGEST_MISMATCH: the sender resends whole) beyond what a signature ever uses. */
function checkBlockSize(op: WriteOp): number {
  const b = op.blockSize ?? 0;
  if (op.basis === 'delta' && !(Number.isSafeInteger(b) && b >= 0 && b <= MAX_BLOCK_SIZE)) {
    throw mismatch(op.path, `block size ${b} is not one radar's signatures use (1..${MAX_BLOCK_SIZE})`);
  }
  return b;
}

/** The digest a write must rebuild to: the op's, or (op digest '') the one sent after the content; never ''. */
function expectedDigest(op: WriteOp, digestAtEnd?: () => string): string {
  const d = op.digest !== '' ? op.digest : (digestAtEnd?.() ?? '');
  if (d === '') throw mismatch(op.path, 'no digest to verify the content against (none in the op, none after the content)');
  return d;
}

export function mismatch(path: RelPath, why: string): KxError {
  return new KxError(ErrorCode.DigestMismatch, `${path}: ${why}`);
}
