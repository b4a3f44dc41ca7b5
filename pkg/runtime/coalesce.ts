// Batches that land within a short window produce one reload, not many: reload requests for the same container and
// mode arriving within `windowMs` share one reload. A request arriving while that reload runs starts another one
// after it, since its files may have landed after the process read them.
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { Reloader, ReloadMode, ReloadResult, TargetRef } from './ports.ts';

export interface CoalescingReloaderOptions {
  readonly inner: Reloader;
  /** Default 300 ms. */
  readonly windowMs?: number;
}

export class CoalescingReloader implements Reloader {
  readonly #inner: Reloader;
  readonly #windowMs: number;
  readonly #keys = new Map<string, KeyState>();
  #closed: Promise<void> | undefined;

  constructor(opts: CoalescingReloaderOptions) {
    this.#inner = opts.inner;
    this.#windowMs = opts.windowMs ?? 300;
  }

  reload(target: TargetRef, mode: ReloadMode, signal?: AbortSignal): Promise<ReloadResult> {
    if (this.#closed) return Promise.reject(new KxError(ErrorCode.Cancelled, 'reload: radar is shutting down'));
    const key = `${target.runtime}\0${target.containerId}\0${String(mode)}`;
    let state = this.#keys.get(key);
    if (!state) {
      state = { tail: Promise.resolve(), running: 0 };
      this.#keys.set(key, state);
    }
    let batch = state.pending;
    if (!batch) {
      const created: Batch = { waiters: [], timer: undefined };
      created.timer = setTimeout(() => this.#fire(key, created, target, mode), this.#windowMs);
      state.pending = created;
      batch = created;
    }
    const joined = batch;
    return new Promise<ReloadResult>((resolve, reject) => {
      const waiter = { resolve, reject };
      joined.waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          // The shared reload goes on for the others; only this caller stops waiting.
          waiter.resolve = () => {};
          waiter.reject = () => {};
          reject(new KxError(ErrorCode.Cancelled, `reload of ${target.containerId}: cancelled`));
        },
        { once: true },
      );
    });
  }

  /** Pending (not yet started) reloads are dropped and their callers get CANCELLED. */
  close(): Promise<void> {
    this.#closed ??= Promise.resolve().then(() => {
      for (const state of this.#keys.values()) {
        const batch = state.pending;
        if (!batch) continue;
        clearTimeout(batch.timer);
        state.pending = undefined;
        for (const w of batch.waiters) w.reject(new KxError(ErrorCode.Cancelled, 'reload: radar is shutting down'));
      }
      return Promise.all([...this.#keys.values()].map((s) => s.tail)).then(() => undefined);
    });
    return this.#closed;
  }

  #fire(key: string, batch: Batch, target: TargetRef, mode: ReloadMode): void {
    const state = this.#keys.get(key)!;
    state.pending = undefined;
    state.running += 1;
    state.tail = state.tail.then(async () => {
      try {
        const result = await this.#inner.reload(target, mode);
        for (const w of batch.waiters) w.resolve(result);
      } catch (err) {
        for (const w of batch.waiters) w.reject(err);
      } finally {
        state.running -= 1;
        if (state.running === 0 && !state.pending) this.#keys.delete(key);
      }
    });
  }
}

interface Waiter { resolve: (value: ReloadResult) => void; reject: (err: unknown) => void }
interface Batch { waiters: Waiter[]; timer: ReturnType<typeof setTimeout> | undefined }
interface KeyState { pending?: Batch | undefined; tail: Promise<void>; running: number }
