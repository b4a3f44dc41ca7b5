// radar keeps a caller's resolved root between its calls to one target, proving it again before each reuse.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import type { ResolvedRoot, RootResolver, TargetRef } from '../../pkg/runtime/ports.ts';
import { RootCache } from '../../radar/grpc/root-cache.ts';

const target: TargetRef = { containerId: 'docker://abc', runtime: 'docker', remotePath: '/app' };

interface FakeRoot extends ResolvedRoot {
  n: number;
  good: boolean;
  closed: boolean;
}

class FakeResolver implements RootResolver {
  readonly roots: FakeRoot[] = [];
  verifiable = true;
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  async authenticate(): Promise<void> {}
  async resolve(_t: TargetRef, token: string | undefined): Promise<ResolvedRoot> {
    if (token !== 'good' && token !== 'other') throw new KxError(ErrorCode.Unauthenticated, 'bad token');
    const root: FakeRoot = {
      n: this.roots.length,
      path: this.dir,
      good: true,
      closed: false,
      ...(this.verifiable && {
        verify: async () => {
          if (!root.good) throw new KxError(ErrorCode.NotFound, 'container exited or was replaced');
        },
      }),
      close: () => {
        root.closed = true;
      },
    };
    this.roots.push(root);
    return root;
  }
}

describe('RootCache', () => {
  let dir: string;
  let resolver: FakeResolver;
  let cache: RootCache;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kx-root-cache-'));
    resolver = new FakeResolver(dir);
    cache = new RootCache(resolver);
  });
  afterEach(async () => {
    cache.close();
    vi.useRealTimers();
    await rm(dir, { recursive: true, force: true });
  });

  const use = async (token = 'good', t = target): Promise<FakeRoot> => {
    const lease = await cache.acquire(t, token);
    lease.release();
    return lease.root as FakeRoot;
  };

  it("reuses one caller's resolution of a target while it still proves itself", async () => {
    const first = await use();
    expect(await use()).toBe(first);
    expect(resolver.roots).toHaveLength(1);
    expect(first.closed).toBe(false);
  });

  it('resolves afresh once the kept root no longer proves itself (the container was replaced), and closes the old one', async () => {
    const first = await use();
    first.good = false;
    const second = await use();
    expect(second).not.toBe(first);
    expect(first.closed).toBe(true);
    expect(resolver.roots).toHaveLength(2);
  });

  it('never lets another token reuse a resolution', async () => {
    const mine = await use('good');
    expect(await use('other')).not.toBe(mine);
    await expect(cache.acquire(target, 'bad')).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    expect(resolver.roots).toHaveLength(2);
  });

  it('keeps targets apart: another path or owner is another resolution', async () => {
    const a = await use();
    expect(await use('good', { ...target, remotePath: '/other' })).not.toBe(a);
    expect(await use('good', { ...target, owner: { uid: 1, gid: 1 } })).not.toBe(a);
    expect(resolver.roots).toHaveLength(3);
  });

  it('resolves afresh after a call tainted the root, closing it once that call released it', async () => {
    const lease = await cache.acquire(target, 'good');
    lease.taint();
    expect((lease.root as FakeRoot).closed).toBe(false); // still in use
    const next = await use();
    expect(next).not.toBe(lease.root);
    lease.release();
    expect((lease.root as FakeRoot).closed).toBe(true);
  });

  it('resolves afresh when the directory is gone (a resolve makes it again)', async () => {
    const first = await use();
    await rm(dir, { recursive: true });
    expect(await use()).not.toBe(first);
  });

  it('keeps nothing that cannot prove itself again', async () => {
    resolver.verifiable = false;
    const first = await use();
    expect(first.closed).toBe(true);
    expect(await use()).not.toBe(first);
    expect(cache.size).toBe(0);
  });

  it('releases a root no call used for the idle time', async () => {
    vi.useFakeTimers();
    cache = new RootCache(resolver, { idleMs: 1000 });
    const first = await use();
    vi.advanceTimersByTime(999);
    expect(first.closed).toBe(false);
    expect(await use()).toBe(first); // the reuse restarts the idle time
    vi.advanceTimersByTime(1000);
    expect(first.closed).toBe(true);
    expect(cache.size).toBe(0);
  });

  it('resolves afresh past the maximum age', async () => {
    let now = 0;
    cache = new RootCache(resolver, { maxAgeMs: 1000, now: () => now });
    const first = await use();
    now = 1000;
    expect(await use()).not.toBe(first);
    expect(first.closed).toBe(true);
  });

  it('close() releases the kept roots, and one in use once its call ends', async () => {
    const idle = await use();
    const busy = await cache.acquire({ ...target, remotePath: '/b' }, 'good');
    cache.close();
    expect(idle.closed).toBe(true);
    expect((busy.root as FakeRoot).closed).toBe(false);
    busy.release();
    expect((busy.root as FakeRoot).closed).toBe(true);
    expect(cache.size).toBe(0);
  });
});
