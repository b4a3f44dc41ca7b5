// The daemon's event batcher under fake timers (the reload coalescer: test/lifecycle/coalescer.test.ts): what is emitted, and when, follows from the windows alone.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventBatcher, MAX_WAIT_MS, QUIET_MS, type Batch } from '../../pkg/daemon/batcher.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('event batching', () => {
  it('coalesces a burst of events into one batch of distinct paths, once the burst is quiet', async () => {
    const batches: Batch[] = [];
    const b = new EventBatcher((x) => batches.push(x));
    for (const p of ['a.txt', '.a.txt.swp', 'a.txt', 'dir/b.txt']) b.add(p);
    await vi.advanceTimersByTimeAsync(QUIET_MS - 1);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches.map((x) => x.paths)).toEqual([['a.txt', '.a.txt.swp', 'dir/b.txt']]);
  });

  it('lets a steady stream flow: a batch closes MAX_WAIT_MS after its first event', async () => {
    const batches: Batch[] = [];
    const b = new EventBatcher((x) => batches.push(x));
    for (let t = 0; t < MAX_WAIT_MS; t += QUIET_MS - 1) {
      b.add(`f${t}`);
      await vi.advanceTimersByTimeAsync(QUIET_MS - 1);
    }
    expect(batches).toHaveLength(1);
    b.close();
  });

  it('emits nothing after close', async () => {
    const batches: Batch[] = [];
    const b = new EventBatcher((x) => batches.push(x));
    b.add('a.txt');
    b.close();
    await vi.advanceTimersByTimeAsync(MAX_WAIT_MS * 2);
    expect(batches).toEqual([]);
  });
});
