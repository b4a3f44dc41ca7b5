// Whether deflating literals pays on this connection, measured as the sync goes (zstd --adapt's idea): compression
// trades the sender's CPU for wire bytes, which pays only while the wire is what holds the transfer back. On
// loopback or a LAN, level-1 deflate (~100 MB/s on source text) is slower than the wire, so it costs time and
// CPU on both sides; through a port-forward of a few MB/s it cuts the transfer by a third or more.

export interface CompressionPolicyOptions {
  /** Drain rates (wire bytes a second while the sender waits on the transport) at or above this turn compression off. */
  readonly fastBytesPerSecond?: number;
  /** Wire bytes per measurement window. */
  readonly windowBytes?: number;
}

/**
 * One per connection, shared by its batches. The frame writer asks `compressing` before deflating a literal and
 * reports every frame it sends with the time it waited for the transport to take it.
 */
export class CompressionPolicy {
  readonly #fast: number;
  readonly #windowBytes: number;
  /** Start compressed: until measured, assume the slow link (the costly mistake is sending raw through one). */
  #on = true;
  /** Share of bytes deflate saved when last measured; assumed to pay until measured. */
  #saving = 1;
  /** Windows left before a saving too small to pay is measured again (the content may have changed). */
  #reprobeIn = 0;
  #raw = 0;
  #packed = 0;
  #bytes = 0;
  #blockedMs = 0;
  #start = -1;

  constructor(opts: CompressionPolicyOptions = {}) {
    this.#fast = opts.fastBytesPerSecond ?? DEFAULT_FAST_BYTES_PER_SECOND;
    this.#windowBytes = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
  }

  get compressing(): boolean {
    return this.#on;
  }

  /** A literal of `raw` bytes was offered to deflate and went out as `packed` bytes (raw when it did not shrink). */
  deflated(raw: number, packed: number): void {
    this.#raw += raw;
    this.#packed += packed;
  }

  /** A frame of `bytes` went out; `blockedMs` is how long the transport made the sender wait before taking it. */
  sent(bytes: number, blockedMs: number, now = performance.now()): void {
    if (this.#start < 0) this.#start = now - blockedMs;
    this.#bytes += bytes;
    this.#blockedMs += blockedMs;
    if (this.#bytes < this.#windowBytes) return;
    const elapsedMs = Math.max(1, now - this.#start);
    const blockedShare = this.#blockedMs / elapsedMs;
    // Waiting on the transport most of the time, at a rate a deflating sender can beat: the wire (or the receiver)
    // is the bottleneck, and fewer bytes are worth the CPU. Otherwise the sender itself is the bottleneck, or the
    // wire outruns deflate: raw is faster.
    const drainRate = (this.#bytes * 1000) / elapsedMs;
    // Deflate pays only when the wire time it saves beats its CPU time: saving > drainRate / deflate speed. A
    // receiver busy creating files also holds the sender back, yet 12 % saved on mixed sources and binaries at
    // 20 MB/s costs more than it gains (and the receiver inflates it too).
    if (this.#raw > 0) {
      this.#saving = 1 - this.#packed / this.#raw;
      this.#reprobeIn = REPROBE_WINDOWS;
    } else if (!this.#on && --this.#reprobeIn <= 0) {
      this.#saving = 1;
    }
    this.#on = blockedShare >= BLOCKED_SHARE && drainRate < this.#fast && this.#saving > drainRate / DEFLATE_BYTES_PER_SECOND;
    this.#raw = 0;
    this.#packed = 0;
    this.#bytes = 0;
    this.#blockedMs = 0;
    this.#start = now;
  }

  /** A new batch starts: time between batches (signatures, acks) is neither the sender's nor the wire's. */
  pause(): void {
    this.#start = -1;
    this.#raw = 0;
    this.#packed = 0;
    this.#bytes = 0;
    this.#blockedMs = 0;
  }
}

/** Where level-1 deflate of source text stops paying: it saves ~35 % of bytes at ~100 MB/s of CPU. */
const DEFAULT_FAST_BYTES_PER_SECOND = 32 * 1024 * 1024;
const DEFAULT_WINDOW_BYTES = 2 * 1024 * 1024;
const BLOCKED_SHARE = 0.5;
/** Level-1 deflate's speed on source text (measured ~100 MB/s on the 2-core box). */
const DEFLATE_BYTES_PER_SECOND = 100 * 1024 * 1024;
/** Windows (of DEFAULT_WINDOW_BYTES) before deflate that did not pay is tried again. */
const REPROBE_WINDOWS = 16;
