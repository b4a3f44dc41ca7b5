// Saves before bulk work: while a continuous batch is in flight, a full sync's pace() holds it, for at most
// MAX_DEFER_MS at a time; with nothing urgent in flight it costs nothing (no promise at all).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Foreground, MAX_DEFER_MS, prioritized, sharedPace } from '../../pkg/daemon/foreground.ts';
import type { SyncEngine } from '../../pkg/daemon/sync-engine.ts';
import type { PushResult } from '../../pkg/sync/push.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves to whether the promise settled by now (after pending microtasks). */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe('Foreground', () => {
  it('asks nothing of bulk work while no save is in flight', () => {
    expect(new Foreground().pace()).toBeUndefined();
  });

  it('holds bulk work until the save in flight is done', async () => {
    const fg = new Foreground();
    const save = deferred();
    const running = fg.run(() => save.promise);
    const wait = fg.pace();
    expect(wait).toBeInstanceOf(Promise);
    expect(await settled(wait!)).toBe(false);
    save.resolve();
    await running;
    expect(await settled(wait!)).toBe(true);
    expect(fg.pace()).toBeUndefined();
  });

  it('holds bulk work at most MAX_DEFER_MS at a time, so saves cannot starve it', async () => {
    const fg = new Foreground();
    const save = deferred();
    const running = fg.run(() => save.promise);
    const wait = fg.pace()!;
    await vi.advanceTimersByTimeAsync(MAX_DEFER_MS - 1);
    expect(await settled(wait)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(wait)).toBe(true);
    save.resolve();
    await running;
  });

  it('counts a save that fails as done', async () => {
    const fg = new Foreground();
    await expect(fg.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(fg.inFlight).toBe(0);
    expect(fg.pace()).toBeUndefined();
  });
});

describe('prioritized engine', () => {
  it("gives a full sync a pace that waits for another folder's save", async () => {
    const save = deferred();
    let paceOfTree: (() => Promise<void> | undefined) | undefined;
    const inner: SyncEngine = {
      syncPaths: async () => {
        await save.promise;
        return {} as PushResult;
      },
      syncTree: (opts) => {
        paceOfTree = opts.pace;
        return Promise.resolve({} as PushResult);
      },
    };
    const engine = prioritized(inner);
    await engine.syncTree({ root: '/nowhere', receiver: {} as never, hasher: {} as never, rules: [] });
    expect(paceOfTree?.()).toBeUndefined();
    const batch = engine.syncPaths({ root: '/nowhere', receiver: {} as never, hasher: {} as never, rules: [], paths: ['a'], local: new Map(), remote: new Map() });
    const wait = paceOfTree?.();
    expect(wait).toBeInstanceOf(Promise);
    save.resolve();
    await batch;
    expect(await settled(wait!)).toBe(true);
  });
});

// Full syncs run in a worker thread: they see the saves in flight through shared memory. Real timers here (Atomics
// waits are not fake-timer driven); the worker's side runs in this thread, which is the same atomics either way.
describe('sharedPace (full syncs in another thread)', () => {
  beforeEach(() => {
    vi.useRealTimers();
  });

  it('asks nothing while no save is in flight, and holds bulk work until the save is done', async () => {
    const fg = new Foreground();
    const pace = sharedPace(fg.flag);
    expect(pace()).toBeUndefined();
    const save = deferred();
    const running = fg.run(() => save.promise);
    const wait = pace();
    expect(wait).toBeInstanceOf(Promise);
    let done = false;
    void wait!.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    save.resolve();
    await running;
    await wait;
    expect(fg.flag[0]).toBe(0);
    expect(pace()).toBeUndefined();
  });

  it('waits for every save in flight, not only the first to finish', async () => {
    const fg = new Foreground();
    const pace = sharedPace(fg.flag);
    const [a, b] = [deferred(), deferred()];
    const runs = [fg.run(() => a.promise), fg.run(() => b.promise)];
    const wait = pace()!;
    let done = false;
    void wait.then(() => (done = true));
    a.resolve();
    await runs[0];
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    b.resolve();
    await Promise.all([...runs, wait]);
  });

  it('lets bulk work go after maxDeferMs even while the save is still in flight', async () => {
    const fg = new Foreground();
    const save = deferred();
    const running = fg.run(() => save.promise);
    await sharedPace(fg.flag, 5)();
    expect(fg.inFlight).toBe(1);
    save.resolve();
    await running;
  });
});
