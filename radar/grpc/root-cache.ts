// Resolved roots kept between the calls of one caller to one target. Resolving a container asks its runtime twice
// (inspect, pin /proc/<pid>/root, inspect again to prove the PID still belongs to it): two round trips to dockerd or
// containerd, 2–20 ms on a busy node, and a continuous sync makes one call per save. A kept root is proven again
// before each reuse the way a long-lived Apply stream proves it before each batch (ResolvedRoot.verify: the same
// process holds the PID, the caller's token still grants the container), and its directory must still be there;
// anything else, or a call that failed with it, sends the next call through a fresh resolve. Keyed by the caller's
// token (hashed) and the whole target, so no caller ever reuses another's resolution.
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import type { ResolvedRoot, RootResolver, TargetRef } from '../../pkg/runtime/ports.ts';

export interface RootCacheOptions {
  /** A root no call used this long is released. Default 30 s. */
  readonly idleMs?: number;
  /** A root resolved this long ago is resolved afresh (what was read along the way may have changed). Default 5 min. */
  readonly maxAgeMs?: number;
  /** Roots kept at once (each holds a directory fd); past it, calls resolve their own. Default 256. */
  readonly max?: number;
  readonly now?: () => number;
}

/** A root one call uses; release() once it is done with it. */
export interface RootLease {
  readonly root: ResolvedRoot;
  /** Something failed with this root: the next call resolves afresh. */
  taint(): void;
  release(): void;
}

interface Kept {
  readonly key: string;
  readonly root: ResolvedRoot;
  readonly resolvedAt: number;
  users: number;
  dropped: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class RootCache {
  readonly #resolver: RootResolver;
  readonly #idleMs: number;
  readonly #maxAgeMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #kept = new Map<string, Kept>();
  #closed = false;

  constructor(resolver: RootResolver, opts: RootCacheOptions = {}) {
    this.#resolver = resolver;
    this.#idleMs = opts.idleMs ?? 30_000;
    this.#maxAgeMs = opts.maxAgeMs ?? 5 * 60_000;
    this.#max = opts.max ?? 256;
    this.#now = opts.now ?? Date.now;
  }

  async acquire(target: TargetRef, token: string | undefined, signal?: AbortSignal): Promise<RootLease> {
    const key = keyOf(target, token);
    const kept = this.#kept.get(key);
    if (kept && !kept.dropped) {
      kept.users++;
      clearTimeout(kept.timer);
      if (this.#now() - kept.resolvedAt < this.#maxAgeMs && (await stillGood(kept.root, signal))) return this.#lease(kept);
      this.#drop(kept);
      this.#unuse(kept);
    }
    const root = await this.#resolver.resolve(target, token, signal);
    // Only roots that can prove themselves again are kept; one resolved meanwhile by a concurrent call is not replaced.
    if (this.#closed || root.verify === undefined || this.#kept.has(key) || this.#kept.size >= this.#max) return once(root);
    const entry: Kept = { key, root, resolvedAt: this.#now(), users: 1, dropped: false, timer: undefined };
    this.#kept.set(key, entry);
    return this.#lease(entry);
  }

  /** Releases every kept root (those in use when their calls end). Idempotent. */
  close(): void {
    this.#closed = true;
    for (const kept of [...this.#kept.values()]) {
      this.#drop(kept);
      if (kept.users === 0) kept.root.close?.();
    }
  }

  /** Roots kept now (for tests). */
  get size(): number {
    return this.#kept.size;
  }

  #lease(kept: Kept): RootLease {
    let released = false;
    return {
      root: kept.root,
      taint: () => this.#drop(kept),
      release: () => {
        if (released) return;
        released = true;
        this.#unuse(kept);
      },
    };
  }

  #unuse(kept: Kept): void {
    kept.users--;
    if (kept.users > 0) return;
    if (kept.dropped) {
      kept.root.close?.();
      return;
    }
    kept.timer = setTimeout(() => {
      this.#drop(kept);
      if (kept.users === 0) kept.root.close?.();
    }, this.#idleMs);
    kept.timer.unref();
  }

  #drop(kept: Kept): void {
    kept.dropped = true;
    clearTimeout(kept.timer);
    if (this.#kept.get(kept.key) === kept) this.#kept.delete(kept.key);
  }
}

/** The root proves itself again, and its directory is still a directory (a removed one is made again by a resolve). */
async function stillGood(root: ResolvedRoot, signal?: AbortSignal): Promise<boolean> {
  try {
    await root.verify?.(signal);
    // One stat of a directory: cheaper done here than handed to the thread pool and waited for.
    return lstatSync(root.path).isDirectory();
  } catch {
    return false;
  }
}

function once(root: ResolvedRoot): RootLease {
  return { root, taint: () => undefined, release: () => root.close?.() };
}

function keyOf(target: TargetRef, token: string | undefined): string {
  const caller = createHash('sha256').update(token ?? '').digest('base64');
  return `${caller}\n${target.runtime}\n${target.containerId}\n${target.remotePath}\n${target.owner ? `${target.owner.uid}:${target.owner.gid}` : ''}\n${target.keepSetIdBits === true}`;
}
