import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, type KxError } from '../../pkg/sync/errors.ts';
import type { ReloadResult } from '../../pkg/runtime/ports.ts';
import { CoalescingReloader } from '../../pkg/runtime/coalesce.ts';

/** Counts reloads; each one waits until the test releases it. */
class GatedReloader {
  readonly calls: string[] = [];
  readonly #gates: Array<() => void> = [];

  reload(target: { containerId: string }, mode: string): Promise<ReloadResult> {
    this.calls.push(`${target.containerId} ${mode}`);
    return new Promise((resolve) => this.#gates.push(() => resolve({ action: `reloaded ${this.calls.length}` })));
  }

  releaseAll(): void {
    for (const g of this.#gates.splice(0)) g();
  }

  /** Lets the window pass (fake timers) and checks the inner reloader has been called n times by then. */
  async whenCalled(n: number, windowMs = 50): Promise<void> {
    await vi.advanceTimersByTimeAsync(windowMs);
    expect(this.calls).toHaveLength(n);
  }
}

const target = (id: string) => ({ containerId: `docker://${id}`, runtime: '', remotePath: '/app' });

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('CoalescingReloader', () => {
  it('turns requests within the window into one reload, answering all of them', async () => {
    const inner = new GatedReloader();
    const reloader = new CoalescingReloader({ inner, windowMs: 50 });
    const answers = [reloader.reload(target('a'), 'restart'), reloader.reload(target('a'), 'restart'), reloader.reload(target('a'), 'restart')];
    await inner.whenCalled(1);
    inner.releaseAll();
    expect(await Promise.all(answers)).toEqual([{ action: 'reloaded 1' }, { action: 'reloaded 1' }, { action: 'reloaded 1' }]);
    expect(inner.calls).toEqual(['docker://a restart']);
  });

  it('keeps containers and modes apart', async () => {
    const inner = new GatedReloader();
    const reloader = new CoalescingReloader({ inner, windowMs: 50 });
    const answers = [reloader.reload(target('a'), 'restart'), reloader.reload(target('b'), 'restart'), reloader.reload(target('a'), 'signal:HUP')];
    await inner.whenCalled(3);
    inner.releaseAll();
    await Promise.all(answers);
    expect([...inner.calls].sort()).toEqual(['docker://a restart', 'docker://a signal:HUP', 'docker://b restart']);
  });

  it('reloads again after a running reload when a request arrives during it', async () => {
    const inner = new GatedReloader();
    const reloader = new CoalescingReloader({ inner, windowMs: 20 });
    const first = reloader.reload(target('a'), 'restart');
    await inner.whenCalled(1, 20);
    const second = reloader.reload(target('a'), 'restart');
    // The second waits for the first to finish before it starts, however long that takes.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(inner.calls).toHaveLength(1);
    inner.releaseAll();
    await first;
    await inner.whenCalled(2, 20);
    inner.releaseAll();
    expect(await second).toEqual({ action: 'reloaded 2' });
  });

  it('passes a failure to every caller of the batch', async () => {
    const inner = { reload: async () => Promise.reject(new Error('engine down')) };
    const reloader = new CoalescingReloader({ inner, windowMs: 10 });
    const settled = Promise.allSettled([reloader.reload(target('a'), 'restart'), reloader.reload(target('a'), 'restart')]);
    await vi.advanceTimersByTimeAsync(10);
    const results = await settled;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('on close, drops reloads not yet started with CANCELLED', async () => {
    const inner = new GatedReloader();
    const reloader = new CoalescingReloader({ inner, windowMs: 10_000 });
    const pending = reloader.reload(target('a'), 'restart');
    await reloader.close();
    const err = (await pending.catch((e: unknown) => e)) as KxError;
    expect(err.code).toBe(ErrorCode.Cancelled);
    expect(inner.calls).toEqual([]);
  });
});
