// Saves before bulk work, in radar: one event loop applies every caller's batches, and a full sync's stream of small
// files is written in synchronous slices (LocalTree yields every 10 ms). A save arriving meanwhile needs a few turns
// of the loop (frames, apply), each behind another slice of the bulk work. A batch counts as urgent until its apply
// needed a slice break (a save's batch never does) or URGENT_MAX_MS passed (a slow or idle sender holds nobody for
// long); while any urgent batch is in flight, bulk batches wait at their slice breaks — at most MAX_HOLD_MS at once,
// so saves slow bulk work but never starve it. The daemon does the same on its side (pkg/daemon/foreground.ts).
// A save's frame is only read between two slices, so while another Apply stream is open (a save may come on it any
// moment) the slices are short: a save then waits at most SHARED_SLICE_MS for the bulk work on the loop to break.

import { BoundedWaiters } from '../../pkg/lifecycle/bounded-waiters.ts';

/** The longest a bulk batch waits at once for urgent batches in flight. */
export const MAX_HOLD_MS = 250;
/** The longest a batch counts as urgent. */
export const URGENT_MAX_MS = 100;
/** How long bulk work runs between its slice breaks while its Apply stream is the only one open. */
export const SOLO_SLICE_MS = 10;
/** How long it runs between them while another Apply stream is open. */
export const SHARED_SLICE_MS = 2;

export class Urgency {
  #urgent = 0;
  #streams = 0;
  readonly #bulk: BoundedWaiters;
  readonly #urgentMaxMs: number;

  constructor(opts: { maxHoldMs?: number; urgentMaxMs?: number } = {}) {
    this.#bulk = new BoundedWaiters(opts.maxHoldMs ?? MAX_HOLD_MS);
    this.#urgentMaxMs = opts.urgentMaxMs ?? URGENT_MAX_MS;
  }

  /** A batch starts: urgent until its first slice break or URGENT_MAX_MS. end() it however it ends. */
  begin(): Lane {
    this.#urgent++;
    let urgent = true;
    const leave = (): void => {
      if (!urgent) return;
      urgent = false;
      clearTimeout(timer);
      if (--this.#urgent === 0) this.#bulk.release();
    };
    const timer = setTimeout(leave, this.#urgentMaxMs);
    return {
      pace: () => {
        // A slice break: this call is bulk work from now on.
        leave();
        return this.#urgent === 0 ? undefined : this.#bulk.wait();
      },
      end: leave,
      get urgent() {
        return urgent;
      },
    };
  }

  /** An Apply stream opens: call the function returned (idempotent) once it ends. */
  openStream(): () => void {
    this.#streams++;
    let open = true;
    return () => {
      if (open) this.#streams--;
      open = false;
    };
  }

  /** No other Apply stream is open (at most the caller's own). */
  alone(): boolean {
    return this.#streams <= 1;
  }

  /** How long bulk work may run before its next slice break, as things stand. */
  sliceMs(): number {
    return this.#streams > 1 ? SHARED_SLICE_MS : SOLO_SLICE_MS;
  }

  /** Urgent batches in flight (for tests). */
  get urgent(): number {
    return this.#urgent;
  }
}

export interface Lane {
  /** Called by the batch's apply at each slice break: undefined (go on) unless urgent batches are in flight. */
  pace(): Promise<void> | undefined;
  end(): void;
  /** Still urgent: no slice break yet, URGENT_MAX_MS not passed, not ended. */
  readonly urgent: boolean;
}
