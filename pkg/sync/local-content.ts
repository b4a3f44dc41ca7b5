// The sender's local content: a file's bytes as they are read for sending (whole, or as chunks for the delta
// encoder), hashed on their way so the digest costs no second read. Pure: Node's fs and the engine's hasher.
import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { wholeFile } from './delta.ts';
import { ErrorCode, KxError, fromFsError } from './errors.ts';
import { checkAborted, openRegularFile, readFull } from './fileio.ts';
import { digestHex, type Hasher } from './hash.ts';
import type { DeltaOp } from './types.ts';

/** The digest of a file's content as it is read for sending; '' until the read reached the end. */
export class ContentHash {
  readonly #stream: ReturnType<Hasher['stream']>;
  #digest = '';

  constructor(hasher: Hasher) {
    this.#stream = hasher.stream();
  }

  update(data: Uint8Array): void {
    this.#stream.update(data);
  }

  finish(): void {
    this.#digest = this.#stream.digest();
  }

  result(): string {
    return this.#digest;
  }
}

/** The file's bytes, hashed on their way to the delta encoder (which copies what it keeps before the next read). */
export async function* hashedChunks(chunks: AsyncIterable<Uint8Array>, hash: ContentHash | null): AsyncIterable<Uint8Array> {
  if (hash === null) {
    yield* chunks;
    return;
  }
  for await (const c of chunks) {
    hash.update(c);
    yield c;
  }
  hash.finish();
}

/** A whole file's literal chunks, hashed as they go. */
export async function* hashedLiterals(body: AsyncIterable<DeltaOp>, hash: ContentHash | null): AsyncIterable<DeltaOp> {
  if (hash === null) {
    yield* body;
    return;
  }
  for await (const d of body) {
    if (d.kind === 'literal') hash.update(d.data);
    yield d;
  }
  hash.finish();
}

const fdRead = promisify(read);

/** Read size of the delta pass: whole blocks of big files come from few calls. */
const DELTA_READ_BYTES = 1024 * 1024;

/**
 * The file's bytes for the delta, read again and again into one buffer: the encoder copies what it takes before
 * asking for the next chunk, so nothing is kept. A fresh chunk per read (a ReadStream) left ~60 MiB of garbage
 * and ~140 ms of GC on a 200 MiB file.
 */
export async function* reusedChunks(abs: string, sizeHint: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  if (sizeHint <= SMALL_FILE_BYTES) {
    for await (const d of smallFile(abs, signal)) if (d.kind === 'literal') yield d.data;
    return;
  }
  const fh = await openRegularFile(abs);
  try {
    // No bigger than the file (plus a little, to see its end in one read): small files are the common case.
    const buf = new Uint8Array(Math.min(DELTA_READ_BYTES, Math.max(4096, sizeHint + 1)));
    for (let position = 0; ; ) {
      checkAborted(signal, `read of ${abs}`);
      const n = await readFull(fh, buf, buf.length, position);
      if (n > 0) yield n === buf.length ? buf : buf.subarray(0, n);
      if (n < buf.length) return;
      position += n;
    }
  } finally {
    await fh.close();
  }
}

/**
 * A file sent whole, read where its bytes go: a frame writer that knows this body opens the file and reads it
 * straight into the outgoing frames (a small file in one synchronous read, a larger one a frame's room at a time),
 * with no buffer of its own that encoding would copy again; any other reader iterates it as literals. With a
 * hasher, the bytes read are hashed (digest(), for a write's digest at end). `onRead`: bytes read so far, for
 * progress.
 */
export class DirectFile implements AsyncIterable<DeltaOp> {
  readonly abs: string;
  readonly #hasher: Hasher | null;
  /** The digest of a file read in chunks, as they come (a small file's is computed in one go). */
  #hash: ContentHash | null = null;
  readonly #signal: AbortSignal | undefined;
  readonly #onRead: ((bytes: number) => void) | undefined;
  #digest = '';
  /** Bytes read so far. */
  #read = 0;

  constructor(abs: string, hasher: Hasher | null, opts: { signal?: AbortSignal; onRead?: (bytes: number) => void } = {}) {
    this.abs = abs;
    this.#hasher = hasher;
    this.#signal = opts.signal;
    this.#onRead = opts.onRead;
  }

  /** Opens the file: its descriptor and size (close it with close(), or read it whole with readSmall). Throws (KxError) when it cannot be read. */
  open(): { fd: number; size: number } {
    let fd: number;
    try {
      fd = openSync(this.abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw fromFsError(err, this.abs);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new KxError(ErrorCode.InvalidArgument, `${this.abs}: no longer a regular file`);
      return { fd, size: st.size };
    } catch (err) {
      closeSync(fd);
      throw fromFsError(err, this.abs);
    }
  }

  /** A small file's bytes, read synchronously into buf[at, at + size) (fewer when it shrank); closes it and hashes them. */
  readSmall(fd: number, buf: Uint8Array, at: number, size: number): number {
    let n = 0;
    try {
      for (let r = -1; n < size && r !== 0; n += r) r = readSync(fd, buf, at + n, size - n, n);
    } catch (err) {
      throw fromFsError(err, this.abs);
    } finally {
      closeSync(fd);
    }
    const data = buf.subarray(at, at + n);
    if (this.#hasher !== null) this.#digest = digestHex(this.#hasher.h64(data));
    this.#read = n;
    this.#onRead?.(n);
    return n;
  }

  /** Up to `length` bytes from `position` into buf at `at` (fewer at the end of the file), hashed; the file stays open. */
  async readChunk(fd: number, buf: Uint8Array, at: number, length: number, position: number): Promise<number> {
    checkAborted(this.#signal, `read of ${this.abs}`);
    let n = 0;
    try {
      while (n < length) {
        const { bytesRead } = await fdRead(fd, buf, at + n, length - n, position + n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
    } catch (err) {
      throw fromFsError(err, this.abs);
    }
    this.#took(buf.subarray(at, at + n));
    if (n < length) this.#ended();
    return n;
  }

  close(fd: number): void {
    closeSync(fd);
  }

  /** The digest of what was read ('' until the read reached the end, or without a hasher). */
  digest(): string {
    return this.#digest;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<DeltaOp> {
    for await (const d of smallFile(this.abs, this.#signal)) {
      if (d.kind === 'literal') this.#took(d.data);
      yield d;
    }
    this.#ended();
  }

  #took(data: Uint8Array): void {
    if (this.#hasher !== null) (this.#hash ??= new ContentHash(this.#hasher)).update(data);
    this.#read += data.byteLength;
    this.#onRead?.(this.#read);
  }

  #ended(): void {
    if (this.#hasher === null) return;
    this.#hash ??= new ContentHash(this.#hasher);
    this.#hash.finish();
    this.#digest = this.#hash.result();
  }
}

/** Files up to this size are read with synchronous calls in one go (see smallFile). */
export const SMALL_FILE_BYTES = 256 * 1024;

/**
 * A small file as one literal, read synchronously: for small files the thread-pool round trip of each async
 * call costs more than the call. A file that grew past the limit since the scan is streamed instead.
 */
export async function* smallFile(abs: string, signal?: AbortSignal): AsyncIterable<DeltaOp> {
  const data = readSmallFile(abs);
  if (data === null) yield* wholeFile(abs, signal);
  else if (data.byteLength > 0) yield { kind: 'literal', data };
}

/**
 * Where small files are read into: slices of one larger buffer, handed out in turn and never reused, so a tree of
 * small files costs one allocation per slab instead of one per file. A file of more than 4 KiB read into a buffer
 * of its own is an ArrayBuffer of its own (Node's pool takes only smaller ones): thousands of them, each tracked by
 * the garbage collector as external memory, made most of a full sync's collections. A slab lives as long as any
 * slice of it is referenced (until the frames holding them are encoded), which bounds it by what is in flight.
 */
export class ReadSlab {
  readonly #slabBytes: number;
  #slab: Buffer | null = null;
  #used = 0;

  constructor(slabBytes = SLAB_BYTES) {
    this.#slabBytes = slabBytes;
  }

  /** `size` bytes of fresh memory: a slice of the current slab, or a buffer of its own when it is large. */
  take(size: number): Buffer {
    if (size > this.#slabBytes / 4) return Buffer.allocUnsafe(size);
    if (this.#slab === null || this.#used + size > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(this.#slabBytes);
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + size);
    // Slices start 8-aligned, as a Buffer of their own would.
    this.#used += (size + 7) & ~7;
    return out;
  }
}

/** One slab: a frame's worth of small files. */
const SLAB_BYTES = 1024 * 1024;

/**
 * A small file's bytes, read synchronously in one go (into a slice of `slab` when given); null when it grew past
 * SMALL_FILE_BYTES since the scan.
 */
export function readSmallFile(abs: string, slab?: ReadSlab): Uint8Array | null {
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fromFsError(err, abs);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new KxError(ErrorCode.InvalidArgument, `${abs}: no longer a regular file`);
    if (st.size > SMALL_FILE_BYTES) return null;
    const buf = slab ? slab.take(st.size) : Buffer.allocUnsafe(st.size);
    let n = 0;
    for (let r = -1; n < buf.length && r !== 0; n += r) r = readSync(fd, buf, n, buf.length - n, n);
    return buf.subarray(0, n);
  } catch (err) {
    throw fromFsError(err, abs);
  } finally {
    closeSync(fd);
  }
}
