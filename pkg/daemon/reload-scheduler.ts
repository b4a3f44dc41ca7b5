// Runs a reload after batches land, coalescing batches that land within WINDOW_MS of each other into one reload,
// and never running two reloads at once (a request during a reload queues exactly one more).

export const RELOAD_WINDOW_MS = 50;

export class ReloadScheduler {
  private readonly run: () => Promise<void>;
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;

  constructor(run: () => Promise<void>, opts: { windowMs?: number } = {}) {
    this.run = run;
    this.windowMs = opts.windowMs ?? RELOAD_WINDOW_MS;
  }

  /** A batch landed: reload once things have been quiet for the window. */
  request(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), this.windowMs);
  }

  /** Resolves when no reload is pending or running. */
  async idle(): Promise<void> {
    while (this.timer !== undefined || this.running) {
      await (this.running ?? new Promise((r) => setTimeout(r, this.windowMs)));
    }
  }

  /** Cancel a pending reload; a running one completes (a half-done restart is worse than a finished one). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private fire(): void {
    this.timer = undefined;
    if (this.closed) return;
    this.running = this.run()
      .catch(() => {}) // the runner reports its own failures; a failed reload must not stop later ones
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }
}
