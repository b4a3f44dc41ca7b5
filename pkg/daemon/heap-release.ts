// Hands the memory of a burst back to the system once the burst is over. After a full sync of 100,000 files the
// daemon's live heap is ~40 MB, yet V8 keeps ~130 MB more of pages it pooled during the burst (its own and the
// retired sync worker's): no flag makes it return them sooner, and its memory reducer does not return them at all.
// V8's last-resort collection does (it releases the pooled pages): measured with 100,000 files in two containers,
// kx watch at rest 373 → 245 MB, for one collection of the ~40 MB heap (tens of ms, off any sync). It needs `gc`,
// which kx watch gets from --expose-gc at its start (the npm bin's re-exec and the single executable pass it,
// build/node-flags.ts); V8's flags are never changed while the process runs (Node warns that may crash it, and
// switching --expose-gc on and off at run time did crash a test run once). Without `gc` this is a no-op.

/** One collection that returns what the heap no longer needs; a no-op where `gc` is not exposed. */
export type HeapRelease = () => void;

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** The last-resort collection of this isolate, when the process started with --expose-gc. */
export function lastResortCollection(): HeapRelease {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') return () => undefined;
  return () => (gc as GcFunction)({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
