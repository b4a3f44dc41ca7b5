// The sender's half of the block delta: slide a window over the new content, look its weak checksum up in the
// receiver's signature, confirm hits with xxh64, and emit copy-block runs and literal bytes. Memory stays bounded
// (one buffer of a literal chunk plus two blocks) whatever the file size.
import type { Hasher } from './hash.ts';
import { checkAborted, openRegularFile, readFull } from './fileio.ts';
import { weakChecksum } from './rolling.ts';
import type { DeltaOp, Signature } from './types.ts';

/** Largest literal op. */
export const LITERAL_MAX = 64 * 1024;
/**
 * A run of matched blocks is sent in parts of about this many bytes, not as one op at its end: the receiver copies
 * the first part of an unchanged stretch while the sender still matches the rest (one byte changed in the middle of
 * 200 MiB otherwise left the receiver idle until the sender had read 100 MiB). About 10 bytes on the wire a part.
 */
export const RUN_PART_BYTES = 16 * 1024 * 1024;

/**
 * Streaming, bounded memory: never holds more than ~2 blocks + one literal chunk. Literals coalesced ≤ 64 KiB.
 * A source chunk is copied before the next is requested, so the source may reuse one buffer.
 */
export function createDelta(sig: Signature, source: AsyncIterable<Uint8Array>, hasher: Hasher): AsyncIterable<DeltaOp> {
  return sig.weak.length === 0 ? literalOps(source) : deltaOps(sig, source, hasher);
}

/**
 * The file at path as literal chunks of 64 KiB (a final symlink is refused), read 1 MiB at a time: a read per
 * literal made a thread-pool round trip and a zero-filled buffer of its own for each 64 KiB of a large file.
 */
export async function* wholeFile(path: string, signal?: AbortSignal): AsyncIterable<DeltaOp> {
  const fh = await openRegularFile(path);
  try {
    for (let position = 0; ; ) {
      checkAborted(signal, `read of ${path}`);
      // A fresh buffer per read, never reused: the consumer may hold on to the literals cut from it.
      const data = Buffer.allocUnsafe(WHOLE_READ_BYTES);
      const n = await readFull(fh, data, WHOLE_READ_BYTES, position);
      for (let off = 0; off < n; off += LITERAL_MAX) yield { kind: 'literal', data: data.subarray(off, Math.min(n, off + LITERAL_MAX)) };
      if (n < WHOLE_READ_BYTES) return;
      position += n;
    }
  } finally {
    await fh.close();
  }
}

/** wholeFile's read size: a whole number of literals. */
const WHOLE_READ_BYTES = 16 * LITERAL_MAX;

// ---- internals ----

const NEED_DATA = -1;
const LITERAL_FULL = -2;
const GOLDEN = 0x9e3779b1;

/** Re-chunk a stream into literal ops of at most LITERAL_MAX bytes (nothing to match against). */
async function* literalOps(source: AsyncIterable<Uint8Array>): AsyncIterable<DeltaOp> {
  for await (const chunk of source) {
    for (let off = 0; off < chunk.length; off += LITERAL_MAX) {
      yield { kind: 'literal', data: chunk.slice(off, Math.min(chunk.length, off + LITERAL_MAX)) };
    }
  }
}

async function* deltaOps(sig: Signature, source: AsyncIterable<Uint8Array>, hasher: Hasher): AsyncIterable<DeltaOp> {
  const enc = new DeltaEncoder(sig, hasher);
  const input = new ChunkReader(source);
  try {
    let done = !(await input.fillInto(enc));
    for (;;) {
      const r = enc.step();
      if (r === NEED_DATA) {
        if (done) {
          enc.finish();
          yield* enc.drain();
          return;
        }
        enc.makeRoom();
        done = !(await input.fillInto(enc));
      }
      if (enc.queued()) yield* enc.drain();
    }
  } finally {
    await input.close();
  }
}

/** Pulls source chunks into the encoder's buffer, keeping the unconsumed rest of a chunk for next time. */
class ChunkReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array | null = null;
  #offset = 0;
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Fill the encoder's free space; false once the source is exhausted (and everything handed over). */
  async fillInto(enc: DeltaEncoder): Promise<boolean> {
    while (enc.free() > 0) {
      if (this.#chunk === null) {
        if (this.#ended) return false;
        const next = await this.#it.next();
        if (next.done) {
          this.#ended = true;
          return false;
        }
        this.#chunk = next.value;
        this.#offset = 0;
      }
      this.#offset += enc.append(this.#chunk, this.#offset);
      if (this.#offset >= this.#chunk.length) this.#chunk = null;
    }
    return true;
  }

  async close(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      await this.#it.return?.();
    }
  }
}

/**
 * The matching state machine over one buffer: [lit, pos) is pending literal, [pos, pos+B) the window whose weak
 * sums are a and b, [pos, end) data not yet consumed. Ops are queued and drained by the generator, so the hot loop
 * (step) is a plain method on numbers and typed arrays.
 */
class DeltaEncoder {
  readonly #sig: Signature;
  readonly #hasher: Hasher;
  readonly #B: number;
  /** Blocks eligible for matching anywhere: all but a short last block, which can only match the tail. */
  readonly #fullBlocks: number;
  readonly #lastLen: number;
  readonly #head: Int32Array;
  readonly #next: Int32Array;
  readonly #shift: number;
  /** One bit per hash of the weak sums present: a cache-friendly first test that rejects almost every window. */
  readonly #filter: Uint32Array;
  readonly #filterShift: number;
  readonly #buf: Uint8Array;

  #end = 0;
  #pos = 0;
  #lit = 0;
  /** The window's weak sums a and b, shared with the hot-loop functions without allocating. */
  readonly #state = new Int32Array(2);
  /** The window at pos has weak sums and was looked up: next step rolls first. */
  #looked = false;
  #windowSet = false;
  #runIndex = -1;
  #runCount = 0;
  #ops: DeltaOp[] = [];

  constructor(sig: Signature, hasher: Hasher) {
    this.#sig = sig;
    this.#hasher = hasher;
    const B = sig.blockSize;
    this.#B = B;
    const n = sig.weak.length;
    this.#lastLen = sig.fileSize - (n - 1) * B;
    this.#fullBlocks = this.#lastLen === B ? n : n - 1;
    const bits = Math.max(10, Math.min(22, Math.ceil(Math.log2(Math.max(1, this.#fullBlocks) * 2))));
    this.#shift = 32 - bits;
    this.#head = new Int32Array(1 << bits).fill(-1);
    this.#next = new Int32Array(Math.max(1, this.#fullBlocks));
    const filterBits = Math.max(16, Math.min(24, Math.ceil(Math.log2(Math.max(1, this.#fullBlocks) * 64))));
    this.#filterShift = 32 - filterBits;
    this.#filter = new Uint32Array(1 << (filterBits - 5));
    for (let i = 0; i < this.#fullBlocks; i++) {
      const f = Math.imul(sig.weak[i], GOLDEN) >>> this.#filterShift;
      this.#filter[f >>> 5] |= 1 << (f & 31);
    }
    // Insert in reverse so each chain lists blocks in ascending index order.
    for (let i = this.#fullBlocks - 1; i >= 0; i--) {
      const h = Math.imul(sig.weak[i], GOLDEN) >>> this.#shift;
      this.#next[i] = this.#head[h]!;
      this.#head[h] = i;
    }
    this.#buf = new Uint8Array(LITERAL_MAX + 2 * B);
  }

  free(): number {
    return this.#buf.length - this.#end;
  }

  /** Copy as much of chunk[offset…] as fits; returns the byte count taken. */
  append(chunk: Uint8Array, offset: number): number {
    const n = Math.min(this.free(), chunk.length - offset);
    this.#buf.set(chunk.subarray(offset, offset + n), this.#end);
    this.#end += n;
    return n;
  }

  /** Before a refill: emit the pending literal when it is large, then move what is left to the buffer's start. */
  makeRoom(): void {
    if (this.#pos - this.#lit > LITERAL_MAX / 2) this.#emitLiteral(this.#lit, this.#pos);
    const from = this.#lit;
    if (from === 0) return;
    this.#buf.copyWithin(0, from, this.#end);
    this.#end -= from;
    this.#pos -= from;
    this.#lit = 0;
  }

  /** Advance until a match (its block index), a full literal (LITERAL_FULL), or the need for data (NEED_DATA). */
  step(): number {
    const B = this.#B;
    if (!this.#windowSet) {
      if (this.#end - this.#pos < B) return NEED_DATA;
      // Right after a match the next block most likely follows the run (unchanged stretches of a file): one
      // strong hash (xxh64 in wasm) confirms it without summing the window byte by byte in JS first.
      const expected = this.#runIndex + this.#runCount;
      if (this.#runIndex >= 0 && expected < this.#fullBlocks && this.#pos === this.#lit &&
        this.#sig.strong[expected] === this.#hasher.h64(this.#buf.subarray(this.#pos, this.#pos + B))) {
        this.#matched(expected);
        return expected;
      }
      this.#setWindow();
    }
    const litLimit = this.#lit + LITERAL_MAX;
    const state = this.#state;
    let pos = this.#pos;
    if (this.#looked) {
      // This window was looked up before the refill: move past it.
      if (pos + B >= this.#end) return NEED_DATA;
      pos = rollOne(this.#buf, B, pos, state);
      this.#looked = false;
      if (pos >= litLimit) return this.#literalFull(pos);
    }
    for (;;) {
      // Roll to the next window whose bucket is occupied, or to the end of the data or of the literal.
      const limit = Math.min(this.#end - B, litLimit);
      pos = scanToCandidate(this.#buf, B, this.#filter, this.#filterShift, pos, limit, state);
      const weak = (state[0] | (state[1] << 16)) >>> 0;
      const j = this.#head[Math.imul(weak, GOLDEN) >>> this.#shift];
      if (j >= 0) {
        const m = this.#confirm(weak, j, pos);
        if (m >= 0) {
          this.#pos = pos;
          this.#matched(m);
          return m;
        }
      }
      if (pos + B >= this.#end) {
        this.#pos = pos;
        this.#looked = true;
        return NEED_DATA;
      }
      if (pos >= litLimit) return this.#literalFull(pos);
      pos = rollOne(this.#buf, B, pos, state);
      if (pos >= litLimit) return this.#literalFull(pos);
    }
  }

  /** The source has ended: the rest is literal, except a tail equal to the basis's short last block. */
  finish(): void {
    const tail = this.#lastLen < this.#B ? this.#lastLen : 0;
    const last = this.#sig.weak.length - 1;
    if (tail > 0 && this.#end - this.#pos >= tail) {
      const start = this.#end - tail;
      const data = this.#buf.subarray(start, this.#end);
      if (this.#sig.strong[last] === this.#hasher.h64(data) && this.#sig.weak[last] === weakChecksum(data, 0, data.length)) {
        this.#emitLiteral(this.#lit, start);
        this.#addCopy(last);
        this.#flushRun();
        return;
      }
    }
    this.#emitLiteral(this.#lit, this.#end);
    this.#flushRun();
  }

  queued(): boolean {
    return this.#ops.length > 0;
  }

  drain(): DeltaOp[] {
    const ops = this.#ops;
    this.#ops = [];
    return ops;
  }

  #literalFull(pos: number): number {
    this.#pos = pos;
    this.#emitLiteral(this.#lit, pos);
    return LITERAL_FULL;
  }

  #setWindow(): void {
    const w = weakChecksum(this.#buf, this.#pos, this.#pos + this.#B);
    this.#state[0] = w & 0xffff;
    this.#state[1] = w >>> 16;
    this.#windowSet = true;
    this.#looked = false;
  }

  /** A bucket hit: the block whose weak and strong sums equal the window's, preferring the one after the run. */
  #confirm(weak: number, first: number, pos: number): number {
    const sig = this.#sig;
    const weakSums = sig.weak;
    const next = this.#next;
    let j = first;
    while (j >= 0 && weakSums[j] !== weak) j = next[j]!;
    if (j < 0) return -1;
    // Only now is the window worth a strong hash.
    const strong = this.#hasher.h64(this.#buf.subarray(pos, pos + this.#B));
    const expected = this.#runIndex + this.#runCount;
    if (this.#runIndex >= 0 && expected < this.#fullBlocks && weakSums[expected] === weak && sig.strong[expected] === strong) {
      return expected;
    }
    for (; j >= 0; j = next[j]!) {
      if (weakSums[j] === weak && sig.strong[j] === strong) return j;
    }
    return -1;
  }

  #matched(index: number): void {
    this.#emitLiteral(this.#lit, this.#pos);
    this.#addCopy(index);
    this.#pos += this.#B;
    this.#lit = this.#pos;
    this.#windowSet = false;
    this.#looked = false;
  }

  #addCopy(index: number): void {
    if (this.#runIndex >= 0 && this.#runIndex + this.#runCount === index) {
      this.#runCount++;
      if (this.#runCount * this.#B >= RUN_PART_BYTES) this.#emitRunPart();
      return;
    }
    this.#flushRun();
    this.#runIndex = index;
    this.#runCount = 1;
  }

  /** The run so far as one op, the run going on after it (a long unchanged stretch goes out in parts). */
  #emitRunPart(): void {
    this.#ops.push({ kind: 'copy', index: this.#runIndex, count: this.#runCount });
    this.#runIndex += this.#runCount;
    this.#runCount = 0;
  }

  #flushRun(): void {
    if (this.#runIndex < 0) return;
    if (this.#runCount > 0) this.#ops.push({ kind: 'copy', index: this.#runIndex, count: this.#runCount });
    this.#runIndex = -1;
    this.#runCount = 0;
  }

  #emitLiteral(from: number, to: number): void {
    if (to <= from) return;
    this.#flushRun();
    for (let off = from; off < to; off += LITERAL_MAX) {
      this.#ops.push({ kind: 'literal', data: this.#buf.slice(off, Math.min(to, off + LITERAL_MAX)) });
    }
    this.#lit = to;
  }
}

/**
 * The hot loop, a plain function over numbers and typed arrays so V8 keeps it tight: slide the window from pos
 * until its weak sum passes the bit filter or pos reaches limit; returns the new pos.
 */
function scanToCandidate(buf: Uint8Array, B: number, filter: Uint32Array, shift: number, pos: number, limit: number, state: Int32Array): number {
  let a = state[0];
  let b = state[1];
  for (; pos < limit; pos++) {
    const f = Math.imul(a | (b << 16), GOLDEN) >>> shift;
    if ((filter[f >>> 5] & (1 << (f & 31))) !== 0) break;
    const out = buf[pos];
    a = (a - out + buf[pos + B]) & 0xffff;
    b = (b - B * out + a) & 0xffff;
  }
  state[0] = a;
  state[1] = b;
  return pos;
}

function rollOne(buf: Uint8Array, B: number, pos: number, state: Int32Array): number {
  const out = buf[pos];
  const a = (state[0] - out + buf[pos + B]) & 0xffff;
  state[0] = a;
  state[1] = (state[1] - B * out + a) & 0xffff;
  return pos + 1;
}
