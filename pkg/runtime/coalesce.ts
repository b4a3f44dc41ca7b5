// Reload requests for one container and mode from any number of clients share one reload (the one coalescing
// policy, pkg/lifecycle/coalescer.ts): requests within the window share a reload, reloads of a container never
// overlap, and a request arriving while one runs gets exactly one more after it, since its files may have landed
// after the process read them. The daemon coalesces its own batches before asking; this covers several clients
// (specs, daemons) reloading the same container.
import { ErrorCode, KxError } from '../sync/errors.ts';
import { Coalescer } from '../lifecycle/coalescer.ts';
import type { Reloader, ReloadMode, ReloadResult, TargetRef } from './ports.ts';

export interface CoalescingReloaderOptions {
  readonly inner: Reloader;
  /** Default the shared COALESCE_WINDOW_MS. */
  readonly windowMs?: number;
}

export class CoalescingReloader implements Reloader {
  readonly #inner: Reloader;
  readonly #windowMs: number | undefined;
  readonly #keys = new Map<string, Coalescer<TargetRef, ReloadResult>>();
  #closed: Promise<void> | undefined;

  constructor(opts: CoalescingReloaderOptions) {
    this.#inner = opts.inner;
    this.#windowMs = opts.windowMs;
  }

  reload(target: TargetRef, mode: ReloadMode, signal?: AbortSignal): Promise<ReloadResult> {
    if (this.#closed) return Promise.reject(new KxError(ErrorCode.Cancelled, 'reload: radar is shutting down'));
    const key = `${target.runtime}\0${target.containerId}\0${String(mode)}`;
    let coalescer = this.#keys.get(key);
    if (!coalescer) {
      const made: Coalescer<TargetRef, ReloadResult> = new Coalescer<TargetRef, ReloadResult>((targets) => this.#inner.reload(targets[0], mode), {
        ...(this.#windowMs === undefined ? {} : { windowMs: this.#windowMs }),
        what: `reload of ${target.containerId}`,
        // Forgotten once idle, so the map holds only containers with reloads pending or running.
        onIdle: () => {
          if (this.#keys.get(key) === made) this.#keys.delete(key);
        },
      });
      this.#keys.set(key, made);
      coalescer = made;
    }
    return coalescer.request(target, signal);
  }

  /** Pending (not yet started) reloads are dropped and their callers get CANCELLED; running ones complete. */
  close(): Promise<void> {
    this.#closed ??= Promise.all([...this.#keys.values()].map((c) => c.close())).then(() => undefined);
    return this.#closed;
  }
}
