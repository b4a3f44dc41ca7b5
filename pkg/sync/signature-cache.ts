// Block signatures of large files radar already knows, kept so the next delta of such a file costs no read of it:
// the signature of content radar wrote itself (built as it was written, most blocks taken over from the basis's
// signature: SignatureBuilder) or read for an earlier delta. An entry is found by the file's device and inode, and
// used only while its size, mtime and ctime are still those recorded (any write changes ctime). A stale entry
// costs no correctness: the rebuild of a delta made against it fails its digest check and the sender resends the
// file whole.
import type { BigIntStats } from 'node:fs';
import type { Signature } from './types.ts';

/** Files smaller than this are signed by reading them: that is fast, and their signatures are not worth keeping. */
export const SIGNATURE_CACHE_MIN_BYTES = 8 * 1024 * 1024;

/** What a cached signature is checked against. */
export type FileStats = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>;

interface Entry {
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly sig: Signature;
  readonly bytes: number;
}

export class SignatureCache {
  readonly #maxBytes: number;
  /** In order of last use (a Map keeps insertion order): the first is evicted first. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  /** `maxBytes` bounds the signatures held (12 bytes a block: 60 KB for a 200 MiB file). */
  constructor(maxBytes = 4 * 1024 * 1024) {
    this.#maxBytes = maxBytes;
  }

  /** The signature recorded for this file, if it is unchanged since (never for a file below the minimum). */
  get(st: FileStats): Signature | undefined {
    const key = keyOf(st);
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.size !== st.size || e.mtimeNs !== st.mtimeNs || e.ctimeNs !== st.ctimeNs) {
      this.#drop(key, e);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e.sig;
  }

  /** Record sig as the signature of the file as `st` describes it (ignored below the minimum size). */
  set(st: FileStats, sig: Signature): void {
    if (st.size < BigInt(SIGNATURE_CACHE_MIN_BYTES) || BigInt(sig.fileSize) !== st.size) return;
    const key = keyOf(st);
    this.delete(st);
    const bytes = sig.weak.byteLength + sig.strong.byteLength + 64;
    if (bytes > this.#maxBytes) return;
    this.#entries.set(key, { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, sig, bytes });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#drop(k, e);
    }
  }

  /** Forget the file (replaced: its inode may be reused). */
  delete(st: Pick<FileStats, 'dev' | 'ino'>): void {
    const key = keyOf(st);
    const e = this.#entries.get(key);
    if (e !== undefined) this.#drop(key, e);
  }

  get size(): number {
    return this.#entries.size;
  }

  #drop(key: string, e: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }
}

function keyOf(st: Pick<FileStats, 'dev' | 'ino'>): string {
  return `${st.dev}:${st.ino}`;
}
