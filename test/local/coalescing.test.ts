// The daemon's event batcher under fake timers (the reload coalescer: test/lifecycle/coalescer.test.ts): what is emitted,
// and when, follows from the windows alone. The first event of a burst goes at once, the rest of the burst waits for a
// quiet spell, removals never go alone at once, a long burst goes on in pieces, and a steady stream still flows.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BURST_PATHS, EventBatcher, MAX_WAIT_MS, QUIET_MS, REMOVAL_QUIET_MS, type Batch } from '../../pkg/daemon/batcher.ts';

describe('EventBatcher', () => {
  let batches: Batch[];
  let batcher: EventBatcher;

  beforeEach(() => {
    vi.useFakeTimers();
    batches = [];
    batcher = new EventBatcher((b) => batches.push(b));
  });

  afterEach(() => {
    batcher.close();
    vi.useRealTimers();
  });

  const paths = (): string[][] => batches.map((b) => [...b.paths]);

  it('sends the first event after a quiet spell on the next turn, not after the quiet window', async () => {
    const start = performance.now();
    batcher.add('src/app.js');
    expect(batches).toHaveLength(0); // not synchronously: the same turn's other events join it
    await vi.advanceTimersToNextTimerAsync();
    expect(paths()).toEqual([['src/app.js']]);
    expect(performance.now() - start).toBeLessThan(QUIET_MS);
  });

  it("takes the events of the first event's turn into the same batch", async () => {
    batcher.add('a');
    batcher.add('b');
    batcher.add('a');
    await vi.advanceTimersToNextTimerAsync();
    expect(paths()).toEqual([['a', 'b']]);
  });

  it('coalesces the rest of a burst into one batch once it is quiet, with its own first-event time', async () => {
    batcher.add('a.txt.tmp~');
    await vi.advanceTimersToNextTimerAsync();
    expect(paths()).toEqual([['a.txt.tmp~']]);
    vi.advanceTimersByTime(1);
    const secondAt = performance.now();
    batcher.add('a.txt.tmp~');
    vi.advanceTimersByTime(QUIET_MS - 1);
    batcher.add('a.txt');
    vi.advanceTimersByTime(QUIET_MS - 1);
    expect(batches).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(paths()).toEqual([['a.txt.tmp~'], ['a.txt.tmp~', 'a.txt']]);
    expect(batches[1].firstEventAt).toBe(secondAt);
  });

  it('sends at once again once a burst has ended', async () => {
    batcher.add('a');
    await vi.advanceTimersToNextTimerAsync();
    vi.advanceTimersByTime(QUIET_MS);
    batcher.add('b');
    await vi.advanceTimersToNextTimerAsync();
    expect(paths()).toEqual([['a'], ['b']]);
    expect(vi.getTimerCount()).toBe(1); // only the quiet timer of b's burst
  });

  it('holds a removal for its longer window, so a save that renames the file away first lands as one batch', async () => {
    expect(REMOVAL_QUIET_MS).toBeGreaterThan(QUIET_MS);
    batcher.add('a.txt', true); // vim: a.txt → a.txt~
    await vi.advanceTimersByTimeAsync(REMOVAL_QUIET_MS - 1);
    expect(batches).toHaveLength(0);
    batcher.add('a.txt~');
    batcher.add('a.txt'); // written anew, later than a save's other gaps
    await vi.advanceTimersByTimeAsync(REMOVAL_QUIET_MS - 1);
    expect(batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(paths()).toEqual([['a.txt', 'a.txt~']]);
  });

  it("widens a burst's window when a removal joins it, and narrows it again once that batch went", async () => {
    batcher.add('a');
    await vi.advanceTimersToNextTimerAsync(); // the leading event
    batcher.add('b');
    batcher.add('b', true);
    await vi.advanceTimersByTimeAsync(REMOVAL_QUIET_MS - 1);
    expect(paths()).toEqual([['a']]);
    await vi.advanceTimersByTimeAsync(1);
    expect(paths()).toEqual([['a'], ['b']]);
    batcher.add('c'); // a new burst: leading again
    await vi.advanceTimersToNextTimerAsync();
    batcher.add('d');
    await vi.advanceTimersByTimeAsync(QUIET_MS);
    expect(paths()).toEqual([['a'], ['b'], ['c'], ['d']]);
  });

  it('keeps a bulk delete together', async () => {
    for (let i = 0; i < 100; i++) batcher.add(`lib/m${i}.js`, true);
    await vi.advanceTimersByTimeAsync(REMOVAL_QUIET_MS);
    expect(batches.map((b) => b.paths.length)).toEqual([100]);
  });

  it('lets a steady stream flow every MAX_WAIT_MS', () => {
    batcher = new EventBatcher((b) => batches.push(b), { leading: false, burstPaths: Infinity });
    for (let t = 0; t < MAX_WAIT_MS * 2.5; t++) {
      batcher.add(`f${t}`);
      vi.advanceTimersByTime(1);
    }
    expect(batches.map((b) => b.paths.length)).toEqual([MAX_WAIT_MS, MAX_WAIT_MS]);
  });

  it('sends a long burst on as soon as BURST_PATHS of its paths wait, without a timer, and keeps it one burst', async () => {
    batcher.add('first');
    await vi.advanceTimersToNextTimerAsync(); // the leading event
    for (let i = 0; i < BURST_PATHS - 1; i++) batcher.add(`f${i}`);
    expect(batches).toHaveLength(1);
    batcher.add(`f${BURST_PATHS - 1}`);
    expect(batches.map((b) => b.paths.length)).toEqual([1, BURST_PATHS]); // at once, no window waited
    batcher.add('next'); // mid-burst: not a leading event, it waits for the burst's window
    await vi.advanceTimersByTimeAsync(QUIET_MS - 1);
    expect(batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(paths()[2]).toEqual(['next']);
  });

  it('holds a long burst with a removal in it for its window, whole', async () => {
    batcher.add('gone.js', true);
    for (let i = 0; i < BURST_PATHS * 3; i++) batcher.add(`f${i}`);
    expect(batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(REMOVAL_QUIET_MS);
    expect(batches.map((b) => b.paths.length)).toEqual([BURST_PATHS * 3 + 1]);
  });

  it('cuts a steady stream into BURST_PATHS batches, sooner than its window', () => {
    batcher = new EventBatcher((b) => batches.push(b), { leading: false });
    for (let t = 0; t < MAX_WAIT_MS * 2.5; t++) {
      batcher.add(`f${t}`);
      vi.advanceTimersByTime(1);
    }
    expect(batches.map((b) => b.paths.length)).toEqual([BURST_PATHS, BURST_PATHS, BURST_PATHS]);
  });

  it('waits the quiet window for every batch when leading is off', () => {
    batcher = new EventBatcher((b) => batches.push(b), { leading: false });
    batcher.add('a');
    vi.advanceTimersByTime(QUIET_MS - 1);
    expect(batches).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(paths()).toEqual([['a']]);
  });

  it('close() drops what is pending and leaves no timer behind', () => {
    batcher.add('a');
    batcher.add('b', true);
    batcher.close();
    vi.advanceTimersByTime(MAX_WAIT_MS * 2);
    expect(batches).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
