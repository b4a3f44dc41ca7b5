// Saves go before bulk work. One daemon runs every folder's sync and one radar applies them: a folder's full sync
// (tens of thousands of files) would otherwise hold another folder's save behind its frames, in the daemon and in
// radar. While any continuous batch is in flight, full syncs wait between the ops they send — for a bounded time at
// once, so that a steady stream of saves slows a full sync down but never starves it. Full syncs run in a worker
// thread (sync-worker.ts): the count of saves in flight is shared with it through `flag` (sharedPace).

import { BoundedWaiters } from '../lifecycle/bounded-waiters.ts';
import type { SyncEngine } from './sync-engine.ts';

/** The longest a full sync waits at once for saves in flight (then sends at least one op). */
export const MAX_DEFER_MS = 250;

/** The daemon's engine with continuous batches ahead of full syncs (shared by every folder of the daemon). */
export function prioritized(engine: SyncEngine, foreground = new Foreground()): SyncEngine {
  return {
    syncPaths: (opts) => foreground.run(() => engine.syncPaths(opts)),
    syncTree: (opts) => engine.syncTree({ ...opts, pace: () => foreground.pace() }),
  };
}

/** Counts the urgent work in flight; bulk work asks pace() (or, in another thread, sharedPace) whether to wait. */
export class Foreground {
  #inFlight = 0;
  readonly #bulk: BoundedWaiters;
  /** The urgent work in flight, for bulk work in other threads (sharedPace). */
  readonly flag = new Int32Array(new SharedArrayBuffer(4));

  constructor(opts: { maxDeferMs?: number } = {}) {
    this.#bulk = new BoundedWaiters(opts.maxDeferMs ?? MAX_DEFER_MS);
  }

  /** Runs urgent work; bulk work waits while it runs. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    Atomics.store(this.flag, 0, this.#inFlight);
    try {
      return await work();
    } finally {
      Atomics.store(this.flag, 0, --this.#inFlight);
      Atomics.notify(this.flag, 0);
      if (this.#inFlight === 0) this.#bulk.release();
    }
  }

  /** Undefined when nothing urgent runs (no wait, not even a microtask); else resolves when it is done or after maxDeferMs. */
  pace(): Promise<void> | undefined {
    return this.#inFlight === 0 ? undefined : this.#bulk.wait();
  }

  /** Work in flight (for tests and status). */
  get inFlight(): number {
    return this.#inFlight;
  }
}

/**
 * pace() for bulk work in another thread, over a Foreground's `flag`: undefined while nothing urgent runs (one
 * atomic read); else resolves when nothing does, or after maxDeferMs.
 */
export function sharedPace(flag: Int32Array, maxDeferMs = MAX_DEFER_MS): () => Promise<void> | undefined {
  return () => {
    const first = Atomics.load(flag, 0);
    if (first === 0) return undefined;
    return (async () => {
      const until = performance.now() + maxDeferMs;
      for (let n = first; n !== 0; n = Atomics.load(flag, 0)) {
        const left = until - performance.now();
        if (left <= 0) return;
        const waited = Atomics.waitAsync(flag, 0, n, left);
        if (waited.async) await waited.value;
      }
    })();
  };
}
