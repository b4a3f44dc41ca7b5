// The receiver's signatures for one batch, read while the batch's other content is already being sent: the
// sender asks for them up front and takes each as it arrives, instead of waiting for all before the first write.
import type { Receiver, RelPath, Signature } from './types.ts';

export class SignatureFeed {
  readonly #found = new Map<RelPath, Signature | null>();
  readonly #waiters = new Map<RelPath, () => void>();
  readonly #stop = new AbortController();
  #done = false;
  #failure: Error | undefined;
  readonly #reading: Promise<void>;

  /** Starts the request at once; `close()` stops it when the batch ends first. */
  constructor(receiver: Receiver, paths: readonly RelPath[], signal?: AbortSignal) {
    const stop = signal ? AbortSignal.any([signal, this.#stop.signal]) : this.#stop.signal;
    this.#reading = this.#read(receiver, paths, stop);
  }

  /** The signature if it has arrived; undefined while it may still come (null: the receiver has no basis). */
  peek(path: RelPath): Signature | null | undefined {
    const s = this.#found.get(path);
    if (s !== undefined) return s;
    if (this.#failure !== undefined) throw this.#failure;
    return this.#done ? null : undefined;
  }

  /** Waits for the path's signature; null when the receiver answered none. Throws when the request failed. */
  async get(path: RelPath): Promise<Signature | null> {
    for (;;) {
      const s = this.peek(path);
      if (s !== undefined) return s;
      await new Promise<void>((resolve) => this.#waiters.set(path, resolve));
    }
  }

  /** Stops reading (idempotent); what arrived stays readable. */
  async close(): Promise<void> {
    if (!this.#done) this.#stop.abort();
    await this.#reading;
  }

  async #read(receiver: Receiver, paths: readonly RelPath[], signal: AbortSignal): Promise<void> {
    try {
      if (paths.length > 0) {
        for await (const { path, signature } of receiver.signatures(paths, signal)) {
          this.#found.set(path, signature);
          this.#wake(path);
        }
      }
    } catch (err) {
      // Stopped by close(): the batch no longer needs what was left.
      if (!this.#stop.signal.aborted) this.#failure = err instanceof Error ? err : new Error(String(err));
    } finally {
      this.#done = true;
      for (const p of [...this.#waiters.keys()]) this.#wake(p);
    }
  }

  #wake(path: RelPath): void {
    const w = this.#waiters.get(path);
    if (w === undefined) return;
    this.#waiters.delete(path);
    w();
  }
}
