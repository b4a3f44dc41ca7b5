// Saves go before bulk work. One daemon runs every folder's sync on one event loop and one radar applies them: a
// folder's full sync (tens of thousands of files) would otherwise hold another folder's save behind its frames on
// both. While any continuous batch is in flight, full syncs wait between the ops they send — for a bounded time at
// once, so that a steady stream of saves slows a full sync down but never starves it.

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

/** Counts the urgent work in flight; bulk work asks pace() whether to wait. */
export class Foreground {
  #inFlight = 0;
  readonly #waiting = new Set<() => void>();
  readonly #maxDeferMs: number;

  constructor(opts: { maxDeferMs?: number } = {}) {
    this.#maxDeferMs = opts.maxDeferMs ?? MAX_DEFER_MS;
  }

  /** Runs urgent work; bulk work waits while it runs. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await work();
    } finally {
      if (--this.#inFlight === 0) this.#release();
    }
  }

  /** Undefined when nothing urgent runs (no wait, not even a microtask); else resolves when it is done or after maxDeferMs. */
  pace(): Promise<void> | undefined {
    if (this.#inFlight === 0) return undefined;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.#maxDeferMs);
      this.#waiting.add(done);
    });
  }

  /** Work in flight (for tests and status). */
  get inFlight(): number {
    return this.#inFlight;
  }

  #release(): void {
    for (const done of [...this.#waiting]) done();
  }
}
