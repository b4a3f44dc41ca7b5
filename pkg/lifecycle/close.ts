// Closing what a long-lived object owns: every child is closed even when an earlier one throws, and the errors are
// reported together. AsyncDisposableStack does this natively on Node 24; kx's installed package also runs where it
// is missing, so these two functions give the same guarantees.

/** A closing step, or nothing to do (a child that was never opened). */
export type CloseStep = (() => unknown) | undefined | null | false;

/**
 * Runs each step in the order given — callers list their children in reverse of opening — awaiting each, never
 * skipping one. Throws the only error, or an AggregateError of all of them.
 */
export async function closeInOrder(steps: readonly CloseStep[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    if (!step) continue;
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  throwCollected(errors);
}

/** Closes independent children at once and waits for every one of them; throws like closeInOrder. */
export async function closeTogether(children: Iterable<{ close(): Promise<unknown> }>): Promise<void> {
  const results = await Promise.allSettled([...children].map((c) => c.close()));
  throwCollected(results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])));
}

function throwCollected(errors: unknown[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} parts failed to close: ${errors.map((e) => (e as Error)?.message ?? String(e)).join('; ')}`);
}
