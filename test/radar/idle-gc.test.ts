// radar collects its garbage once it goes quiet after work: one full collection per quiet spell that follows at
// least WORK_MICROS of CPU, none while it works, none after a spell with too little work, and none after close().
// The collection itself (exposedGc under --expose-gc) is checked in a real Node: it hands the heap's pages back.
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleCollector } from '../../radar/grpc/idle-gc.ts';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** A CPU clock the test advances: `work(ms)` is that much CPU spent before the next check. */
function fakeCpu(): { cpuMicros: () => number; work: (ms: number) => void } {
  let micros = 0;
  return { cpuMicros: () => micros, work: (ms) => void (micros += ms * 1000) };
}

function collector(cpu: ReturnType<typeof fakeCpu>, collect = vi.fn()): { idle: IdleCollector; collect: typeof collect } {
  const idle = new IdleCollector({ collect, cpuMicros: cpu.cpuMicros, checkMs: 1000, quietChecks: 2, workMicros: 300_000 });
  idle.start();
  return { idle, collect };
}

describe('IdleCollector', () => {
  it('collects once after work, when two checks in a row saw radar quiet', async () => {
    const cpu = fakeCpu();
    const { idle, collect } = collector(cpu);
    cpu.work(800);
    await vi.advanceTimersByTimeAsync(1000); // busy
    await vi.advanceTimersByTimeAsync(1000); // quiet 1
    expect(collect).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000); // quiet 2
    expect(collect).toHaveBeenCalledTimes(1);
    // Still quiet, no new work: no second collection.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(collect).toHaveBeenCalledTimes(1);
    expect(idle.collections).toBe(1);
    idle.close();
  });

  it('waits while radar keeps working, and collects when it stops', async () => {
    const cpu = fakeCpu();
    const { idle, collect } = collector(cpu);
    for (let i = 0; i < 10; i++) {
      cpu.work(100); // 10% of a core: busy
      await vi.advanceTimersByTimeAsync(1000);
    }
    expect(collect).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(2000);
    expect(collect).toHaveBeenCalledTimes(1);
    idle.close();
  });

  it('does not collect after too little work (single saves), until enough has added up', async () => {
    const cpu = fakeCpu();
    const { idle, collect } = collector(cpu);
    for (let i = 0; i < 5; i++) {
      cpu.work(50);
      await vi.advanceTimersByTimeAsync(1000);
      await vi.advanceTimersByTimeAsync(5000);
    }
    expect(collect).not.toHaveBeenCalled(); // 250 ms of work in all
    cpu.work(60);
    await vi.advanceTimersByTimeAsync(3000);
    expect(collect).toHaveBeenCalledTimes(1);
    idle.close();
  });

  it('waits while a client saves every 300 ms (a few ms of CPU each), and collects in their pause', async () => {
    const c = fakeCpu();
    const seen = vi.fn();
    const saving = new IdleCollector({ collect: seen, cpuMicros: c.cpuMicros, checkMs: 1000, workMicros: 300_000 });
    saving.start();
    c.work(800); // a sync
    for (let i = 0; i < 30; i++) {
      c.work(2); // one save
      await vi.advanceTimersByTimeAsync(300);
    }
    expect(seen).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(3000);
    expect(seen).toHaveBeenCalledTimes(1);
    saving.close();
  });

  it("does not count the collection's own CPU as work", async () => {
    const cpu = fakeCpu();
    const { idle, collect } = collector(cpu, vi.fn(() => cpu.work(400)));
    cpu.work(500);
    await vi.advanceTimersByTimeAsync(3000);
    expect(collect).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(collect).toHaveBeenCalledTimes(1);
    idle.close();
  });

  it('stops checking on close (idempotent)', async () => {
    const cpu = fakeCpu();
    const { idle, collect } = collector(cpu);
    cpu.work(800);
    idle.close();
    idle.close();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(collect).not.toHaveBeenCalled();
  });
});

describe('exposedGc', () => {
  it('is absent without --expose-gc', async () => {
    vi.useRealTimers();
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', `import { exposedGc } from ${JSON.stringify(new URL('../../radar/grpc/idle-gc.ts', import.meta.url).href)}; console.log(typeof exposedGc());`], { encoding: 'utf8' });
    expect(out.trim()).toBe('undefined');
  });

  it("collects the garbage and hands the heap's emptied pages back", async () => {
    vi.useRealTimers();
    // Objects old enough to sit in old space, then dropped: the heap's committed size before and after.
    const script = `
      import { getHeapStatistics } from 'node:v8';
      import { exposedGc } from ${JSON.stringify(new URL('../../radar/grpc/idle-gc.ts', import.meta.url).href)};
      let keep = [];
      for (let i = 0; i < 600; i++) keep.push(Array.from({ length: 10_000 }, (_, j) => ({ i, j })));
      const before = getHeapStatistics().total_heap_size;
      keep = null;
      exposedGc()();
      console.log(JSON.stringify({ before, after: getHeapStatistics().total_heap_size }));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=2', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const { before, after } = JSON.parse(out) as { before: number; after: number };
    expect(before).toBeGreaterThan(100 * 1024 * 1024);
    expect(after).toBeLessThan(before / 4);
  });
});
