// radar's saves-before-bulk-work: a batch is urgent until its first slice break (or URGENT_MAX_MS); bulk batches wait
// at their slice breaks while urgent ones are in flight, at most MAX_HOLD_MS at once.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_HOLD_MS, SHARED_SLICE_MS, SOLO_SLICE_MS, URGENT_MAX_MS, Urgency } from '../../radar/grpc/urgency.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe('Urgency', () => {
  it('lets a batch go on at its slice break while nothing urgent is in flight', () => {
    const u = new Urgency();
    const bulk = u.begin();
    expect(bulk.pace()).toBeUndefined();
    expect(u.urgent).toBe(0);
    bulk.end();
  });

  it('holds a bulk batch while a save is in flight, until the save ends', async () => {
    const u = new Urgency();
    const bulk = u.begin();
    expect(bulk.pace()).toBeUndefined(); // now bulk
    const save = u.begin();
    const wait = bulk.pace()!;
    expect(wait).toBeInstanceOf(Promise);
    expect(await settled(wait)).toBe(false);
    save.end();
    expect(await settled(wait)).toBe(true);
    bulk.end();
  });

  it('holds bulk work at most MAX_HOLD_MS at once', async () => {
    const u = new Urgency({ urgentMaxMs: MAX_HOLD_MS * 10 });
    const bulk = u.begin();
    void bulk.pace();
    const save = u.begin();
    const wait = bulk.pace()!;
    await vi.advanceTimersByTimeAsync(MAX_HOLD_MS - 1);
    expect(await settled(wait)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(wait)).toBe(true);
    save.end();
  });

  it('counts a batch as urgent for URGENT_MAX_MS at most (a slow or idle sender holds nobody for long)', async () => {
    const u = new Urgency();
    const idle = u.begin();
    expect(u.urgent).toBe(1);
    await vi.advanceTimersByTimeAsync(URGENT_MAX_MS);
    expect(u.urgent).toBe(0);
    idle.end();
    expect(u.urgent).toBe(0);
  });

  it('never holds an urgent batch at its own slice break, and leaves no timer behind', () => {
    const u = new Urgency();
    const a = u.begin();
    const b = u.begin();
    expect(a.pace()).toBeInstanceOf(Promise); // a turned bulk; b is still urgent
    b.end();
    a.end();
    a.end();
    expect(u.urgent).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("says whether a lane is still urgent: until its first slice break, its end or URGENT_MAX_MS", async () => {
    const u = new Urgency();
    const broke = u.begin();
    expect(broke.urgent).toBe(true);
    expect(broke.pace()).toBeUndefined();
    expect(broke.urgent).toBe(false);
    const ended = u.begin();
    ended.end();
    expect(ended.urgent).toBe(false);
    const slow = u.begin();
    await vi.advanceTimersByTimeAsync(URGENT_MAX_MS - 1);
    expect(slow.urgent).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(slow.urgent).toBe(false);
    broke.end();
    slow.end();
  });

  it('gives bulk work short slices while another Apply stream is open, long ones while it is alone', () => {
    const u = new Urgency();
    expect(SHARED_SLICE_MS).toBeLessThan(SOLO_SLICE_MS);
    const a = u.openStream();
    expect([u.sliceMs(), u.alone()]).toEqual([SOLO_SLICE_MS, true]);
    const b = u.openStream();
    expect([u.sliceMs(), u.alone()]).toEqual([SHARED_SLICE_MS, false]);
    b();
    b(); // idempotent: counted once
    expect([u.sliceMs(), u.alone()]).toEqual([SOLO_SLICE_MS, true]);
    a();
    expect([u.sliceMs(), u.alone()]).toEqual([SOLO_SLICE_MS, true]);
  });
});
