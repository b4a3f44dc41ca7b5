// The one coalescing policy for work that follows bursts of requests (reloads after batches land, onSync before
// them): requests arriving within `windowMs` of the first one share one run, which gets all their inputs; runs never
// overlap, and requests arriving while one runs share exactly one more run after it. The daemon coalesces a
// folder's batches with it; radar coalesces reload requests for one container from several clients with it.
import { ErrorCode, KxError } from '../sync/errors.ts';

/** The window both the daemon and radar use unless told otherwise. */
export const COALESCE_WINDOW_MS = 50;

export interface CoalescerOptions {
  /** Default COALESCE_WINDOW_MS. */
  readonly windowMs?: number;
  /** What a request refused or dropped by close() is told; default "shutting down". */
  readonly what?: string;
  /** Called when a run ended and nothing is pending (e.g. to forget a keyed coalescer). */
  readonly onIdle?: () => void;
}

export class Coalescer<In, Out> {
  readonly #run: (inputs: In[]) => Promise<Out>;
  readonly #windowMs: number;
  readonly #what: string;
  readonly #onIdle: (() => void) | undefined;
  /** The batch still taking requests: it starts once its window passed and the previous run ended. */
  #pending: Batch<In, Out> | undefined;
  #running: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(run: (inputs: In[]) => Promise<Out>, opts: CoalescerOptions = {}) {
    this.#run = run;
    this.#windowMs = opts.windowMs ?? COALESCE_WINDOW_MS;
    this.#what = opts.what ?? 'coalesced work';
    this.#onIdle = opts.onIdle;
  }

  /**
   * Adds `input` to the next run and resolves with that run's result (rejects with its error). Aborting `signal`
   * stops this caller waiting (CANCELLED); the run goes on for the others.
   */
  request(input: In, signal?: AbortSignal): Promise<Out> {
    if (this.#closed) return Promise.reject(new KxError(ErrorCode.Cancelled, `${this.#what}: shutting down`));
    let batch = this.#pending;
    if (!batch) {
      const created: Batch<In, Out> = { inputs: [], waiters: [], windowPassed: false, timer: undefined };
      created.timer = setTimeout(() => {
        created.windowPassed = true;
        this.#startIfDue();
      }, this.#windowMs);
      this.#pending = created;
      batch = created;
    }
    batch.inputs.push(input);
    const joined = batch;
    return new Promise<Out>((resolve, reject) => {
      const waiter: Waiter<Out> = { resolve, reject };
      joined.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          waiter.resolve = () => {};
          waiter.reject = () => {};
          reject(new KxError(ErrorCode.Cancelled, `${this.#what}: cancelled`));
        },
        { once: true },
      );
    });
  }

  /** True while a run is pending or running. */
  busy(): boolean {
    return this.#pending !== undefined || this.#running !== undefined;
  }

  /** Resolves when nothing is pending or running. */
  async idle(): Promise<void> {
    while (this.busy()) {
      await (this.#running ?? new Promise<void>((r) => setTimeout(r, this.#windowMs)));
    }
  }

  /** A pending run is dropped (its callers get CANCELLED); a running one completes. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const batch = this.#pending;
      this.#pending = undefined;
      if (batch) {
        clearTimeout(batch.timer);
        for (const w of batch.waiters) w.reject(new KxError(ErrorCode.Cancelled, `${this.#what}: shutting down`));
      }
      await this.#running;
    })();
    return this.#closed;
  }

  #startIfDue(): void {
    const batch = this.#pending;
    if (!batch || !batch.windowPassed || this.#running) return;
    this.#pending = undefined;
    this.#running = (async () => {
      try {
        const out = await this.#run(batch.inputs);
        for (const w of batch.waiters) w.resolve(out);
      } catch (err) {
        for (const w of batch.waiters) w.reject(err);
      }
    })().finally(() => {
      this.#running = undefined;
      this.#startIfDue();
      if (!this.busy()) this.#onIdle?.();
    });
  }
}

interface Waiter<Out> { resolve: (value: Out) => void; reject: (err: unknown) => void }
interface Batch<In, Out> { inputs: In[]; waiters: Array<Waiter<Out>>; windowPassed: boolean; timer: ReturnType<typeof setTimeout> | undefined }
