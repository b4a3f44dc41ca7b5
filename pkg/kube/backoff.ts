// Exponential back-off shared by everything in pkg/kube that retries (watch restarts, crash-looping containers,
// tunnel and connection re-dials), so they all slow down the same way and reset the same way.

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
}
