import { describe, expect, it } from 'vitest';
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

  async whenCalled(n: number): Promise<void> {
    while (this.calls.length < n) await new Promise((r) => setTimeout(r, 5));
  }
}

const target = (id: string) => ({ containerId: `docker://${id}`, runtime: '', remotePath: '/app' });

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
    await inner.whenCalled(1);
    const second = reloader.reload(target('a'), 'restart');
    // The second waits for the first to finish before it starts.
    await new Promise((r) => setTimeout(r, 60));
    expect(inner.calls).toHaveLength(1);
    inner.releaseAll();
    await first;
    await inner.whenCalled(2);
    inner.releaseAll();
    expect(await second).toEqual({ action: 'reloaded 2' });
  });

  it('passes a failure to every caller of the batch', async () => {
    const inner = { reload: async () => Promise.reject(new Error('engine down')) };
    const reloader = new CoalescingReloader({ inner, windowMs: 10 });
    const results = await Promise.allSettled([reloader.reload(target('a'), 'restart'), reloader.reload(target('a'), 'restart')]);
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
