// The one coalescing policy (the daemon's onSync + reload after batches, radar's reloads per container) under fake
// timers: what runs, with which inputs, and when, follows from the window alone.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Coalescer } from '../../pkg/lifecycle/coalescer.ts';
import { ErrorCode, type KxError } from '../../pkg/sync/errors.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A run that records its inputs and waits until the test releases it. */
function gatedRun(): { runs: string[][]; release: () => void; run: (inputs: string[]) => Promise<number> } {
  const runs: string[][] = [];
  const gates: Array<() => void> = [];
  return {
    runs,
    release: () => {
      for (const g of gates.splice(0)) g();
    },
    run: (inputs) => {
      runs.push(inputs);
      const n = runs.length;
      return new Promise((resolve) => gates.push(() => resolve(n)));
    },
  };
}

describe('Coalescer', () => {
  it('runs once for requests within the window, with all their inputs, answering each caller', async () => {
    const g = gatedRun();
    const c = new Coalescer(g.run, { windowMs: 50 });
    const answers = [c.request('a.txt')];
    await vi.advanceTimersByTimeAsync(30);
    answers.push(c.request('b.txt'), c.request('package.json'));
    await vi.advanceTimersByTimeAsync(19);
    expect(g.runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(g.runs).toEqual([['a.txt', 'b.txt', 'package.json']]);
    g.release();
    expect(await Promise.all(answers)).toEqual([1, 1, 1]);
    await c.close();
  });

  it('never overlaps runs: requests during a run share exactly one more run after it', async () => {
    const g = gatedRun();
    const c = new Coalescer(g.run, { windowMs: 10 });
    const first = c.request('a');
    await vi.advanceTimersByTimeAsync(10);
    expect(g.runs).toHaveLength(1);
    const later = [c.request('b'), c.request('c')];
    await vi.advanceTimersByTimeAsync(1_000);
    // Still one: the next waits for the running one however long it takes.
    expect(g.runs).toHaveLength(1);
    // Arriving after the window passed but before the run could start: still the same next run.
    later.push(c.request('d'));
    g.release();
    expect(await first).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(g.runs).toEqual([['a'], ['b', 'c', 'd']]);
    g.release();
    expect(await Promise.all(later)).toEqual([2, 2, 2]);
    await c.idle();
    expect(c.busy()).toBe(false);
  });

  it('passes a failed run to every caller of it, and runs the next one anyway', async () => {
    let n = 0;
    const c = new Coalescer(async () => {
      n++;
      if (n === 1) throw new Error('engine down');
      return n;
    }, { windowMs: 5 });
    const settled = Promise.allSettled([c.request(1), c.request(2)]);
    await vi.advanceTimersByTimeAsync(5);
    expect((await settled).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const next = c.request(3);
    await vi.advanceTimersByTimeAsync(5);
    expect(await next).toBe(2);
  });

  it('lets one caller stop waiting (CANCELLED) while the run goes on for the others', async () => {
    const g = gatedRun();
    const c = new Coalescer(g.run, { windowMs: 5 });
    const ac = new AbortController();
    const leaving = c.request('a', ac.signal);
    const staying = c.request('b');
    ac.abort();
    expect(((await leaving.catch((e: unknown) => e)) as KxError).code).toBe(ErrorCode.Cancelled);
    await vi.advanceTimersByTimeAsync(5);
    g.release();
    expect(await staying).toBe(1);
    expect(g.runs).toEqual([['a', 'b']]);
  });

  it('on close, drops a pending run (CANCELLED) but lets a running one finish, and refuses new requests', async () => {
    const g = gatedRun();
    const c = new Coalescer(g.run, { windowMs: 5 });
    const running = c.request('a');
    await vi.advanceTimersByTimeAsync(5);
    const pending = c.request('b');
    const closed = c.close();
    expect(((await pending.catch((e: unknown) => e)) as KxError).code).toBe(ErrorCode.Cancelled);
    g.release();
    await closed;
    expect(await running).toBe(1);
    expect(((await c.request('c').catch((e: unknown) => e)) as KxError).code).toBe(ErrorCode.Cancelled);
    await vi.advanceTimersByTimeAsync(100);
    expect(g.runs).toEqual([['a']]);
  });

  it('tells its owner when it is idle again', async () => {
    const idle = vi.fn();
    const c = new Coalescer(async () => 1, { windowMs: 5, onIdle: idle });
    const done = c.request('a');
    await vi.advanceTimersByTimeAsync(5);
    await done;
    await vi.advanceTimersByTimeAsync(0);
    expect(idle).toHaveBeenCalledTimes(1);
  });
});
