// Closing children: every one closed even when another throws, in the order given, errors reported together.
import { describe, expect, it, vi } from 'vitest';
import { Backoff } from '../../pkg/lifecycle/backoff.ts';
import { closeInOrder, closeTogether } from '../../pkg/lifecycle/close.ts';

describe('closeInOrder', () => {
  it('runs every step in the order given, awaiting each', async () => {
    const seen: string[] = [];
    await closeInOrder([
      async () => { await Promise.resolve(); seen.push('folder'); },
      undefined,
      () => { seen.push('connection'); },
    ]);
    expect(seen).toEqual(['folder', 'connection']);
  });

  it('never skips a step after one throws, and rethrows that error', async () => {
    const later = vi.fn();
    const boom = new Error('folder failed');
    await expect(closeInOrder([() => { throw boom; }, later])).rejects.toBe(boom);
    expect(later).toHaveBeenCalledOnce();
  });

  it('aggregates several errors, naming each', async () => {
    const err = await closeInOrder([() => Promise.reject(new Error('a')), () => Promise.reject(new Error('b'))]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors.map((e: Error) => e.message)).toEqual(['a', 'b']);
    expect((err as Error).message).toMatch(/2 parts failed to close: a; b/);
  });
});

describe('closeTogether', () => {
  it('waits for every child even when one rejects first', async () => {
    let slowDone = false;
    const slow = { close: () => new Promise<void>((r) => setTimeout(() => { slowDone = true; r(); }, 20)) };
    const failing = { close: () => Promise.reject(new Error('tunnel failed')) };
    await expect(closeTogether([failing, slow])).rejects.toThrow('tunnel failed');
    expect(slowDone).toBe(true);
  });
});

describe('Backoff', () => {
  it('doubles up to its ceiling and starts over after reset', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 350 });
    expect([b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 350, 350]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('wait() resolves true after the delay and false at once on abort', async () => {
    vi.useFakeTimers();
    try {
      const b = new Backoff({ baseMs: 1_000, maxMs: 1_000 });
      const ac = new AbortController();
      const waited = b.wait(ac.signal);
      await vi.advanceTimersByTimeAsync(1_000);
      await expect(waited).resolves.toBe(true);
      const aborted = b.wait(ac.signal);
      ac.abort();
      await expect(aborted).resolves.toBe(false);
      await expect(b.wait(ac.signal)).resolves.toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
