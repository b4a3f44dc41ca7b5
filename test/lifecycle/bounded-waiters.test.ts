// Bulk work waits for urgent work in flight, but never longer than its bound at once.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BoundedWaiters } from '../../pkg/lifecycle/bounded-waiters.ts';

describe('BoundedWaiters', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Whether the promise has settled after the microtasks that are due. */
  async function settled(p: Promise<void>): Promise<boolean> {
    let done = false;
    void p.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    return done;
  }

  it('resolves a wait after its bound when nothing releases it', async () => {
    const waiters = new BoundedWaiters(250);
    const w = waiters.wait();
    await vi.advanceTimersByTimeAsync(249);
    expect(await settled(w)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(w)).toBe(true);
  });

  it('resolves every wait at once on release, and a later wait waits again', async () => {
    const waiters = new BoundedWaiters(250);
    const [a, b] = [waiters.wait(), waiters.wait()];
    await vi.advanceTimersByTimeAsync(10);
    waiters.release();
    expect([await settled(a), await settled(b)]).toEqual([true, true]);
    const c = waiters.wait();
    expect(await settled(c)).toBe(false);
    expect(vi.getTimerCount()).toBe(1); // the released waits' timers are gone
    await vi.advanceTimersByTimeAsync(250);
    expect(await settled(c)).toBe(true);
  });
});
