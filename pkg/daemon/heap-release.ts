// Hands the memory of a burst back to the system once the burst is over. After a full sync of 100,000 files the
// daemon's live heap is ~40 MB, yet V8 keeps ~130 MB more of pages it pooled during the burst (its own and the
// retired sync worker's): no flag makes it return them sooner, and its memory reducer does not return them at all.
// V8's last-resort collection does (it releases the pooled pages): measured with 100,000 files in two containers,
// kx watch at rest 373 → 245 MB, for one collection of the ~40 MB heap (tens of ms, off any sync). The collection is
// reached as Jest reaches it for --logHeapUsage: the gc extension switched on, then taken from a fresh context
// (only contexts made after the switch have it); the daemon's own global gets no `gc`.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One collection that returns what the heap no longer needs; a no-op where the gc extension is unavailable. */
export type HeapRelease = () => void;

/** The last-resort collection of this isolate. */
export function lastResortCollection(): HeapRelease {
  const gc = exposedGc();
  return () => gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

function exposedGc(): GcFunction | undefined {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as GcFunction;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    // Contexts made from here on (a worker's) have no `gc` of their own again.
    setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? (gc as GcFunction) : undefined;
  } catch {
    return undefined;
  }
}
