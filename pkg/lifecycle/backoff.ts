// Exponential back-off shared by every loop in kx that retries (a service connecting to its target, a folder
// re-syncing after a lost link, Docker's event stream, pod watch restarts, crash-looping containers, tunnel
// re-dials), so they all slow down the same way and reset the same way.

export interface BackoffPolicy {
  /** First delay. */
  readonly baseMs: number;
  /** Ceiling. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

export class Backoff {
  readonly #policy: BackoffPolicy;
  #attempts = 0;

  constructor(policy: BackoffPolicy = DEFAULT_BACKOFF) {
    this.#policy = policy;
  }

  /** The delay before the next attempt: base, 2×base, 4×base … up to max. */
  next(): number {
    const delay = Math.min(this.#policy.baseMs * 2 ** Math.min(this.#attempts, 30), this.#policy.maxMs);
    this.#attempts++;
    return delay;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  reset(): void {
    this.#attempts = 0;
  }

  /** Waits out the next delay; resolves false at once when `signal` aborts (the loop should stop), else true. */
  wait(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    const ms = this.next();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve(!signal.aborted);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
