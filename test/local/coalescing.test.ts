import { describe, expect, it } from 'vitest';
import { EventBatcher, type Batch } from '../../pkg/daemon/batcher.ts';
import { ReloadScheduler } from '../../pkg/daemon/reload-scheduler.ts';

describe('event batching', () => {
  it('coalesces a burst of events into one batch of distinct paths', async () => {
    const batches: Batch[] = [];
    const b = new EventBatcher((x) => batches.push(x));
    for (const p of ['a.txt', '.a.txt.swp', 'a.txt', 'dir/b.txt']) b.add(p);
    await new Promise((r) => setTimeout(r, 200));
    expect(batches.map((x) => x.paths)).toEqual([['a.txt', '.a.txt.swp', 'dir/b.txt']]);
  });

  it('emits nothing after close', async () => {
    const batches: Batch[] = [];
    const b = new EventBatcher((x) => batches.push(x));
    b.add('a.txt');
    b.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(batches).toEqual([]);
  });
});

describe('reload coalescing', () => {
  it('runs one reload for requests within the window', async () => {
    let runs = 0;
    const s = new ReloadScheduler(async () => void runs++);
    s.request();
    s.request();
    s.request();
    await new Promise((r) => setTimeout(r, 20));
    await s.idle();
    expect(runs).toBe(1);
    await s.close();
  });

  it('runs exactly one more reload for requests that arrive during a reload', async () => {
    let runs = 0;
    let release!: () => void;
    const s = new ReloadScheduler(() => {
      runs++;
      return runs === 1 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
    }, { windowMs: 1 });
    s.request();
    while (runs === 0) await new Promise((r) => setTimeout(r, 5));
    s.request();
    s.request();
    release();
    await new Promise((r) => setTimeout(r, 20));
    await s.idle();
    expect(runs).toBe(2);
    await s.close();
  });

  it('drops a pending reload on close', async () => {
    let runs = 0;
    const s = new ReloadScheduler(async () => void runs++, { windowMs: 50 });
    s.request();
    await s.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(runs).toBe(0);
  });
});
