// Callers that each wait for a bounded time, or until released all at once: how bulk work waits for urgent work in
// flight (the daemon's Foreground, radar's Urgency) without ever being starved by it.

export class BoundedWaiters {
  readonly #waiting = new Set<() => void>();
  readonly #maxMs: number;

  constructor(maxMs: number) {
    this.#maxMs = maxMs;
  }

  /** Resolves at the next release() or after maxMs, whichever comes first. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.#maxMs);
      this.#waiting.add(done);
    });
  }

  /** Resolves every wait now. */
  release(): void {
    for (const done of [...this.#waiting]) done();
  }
}
