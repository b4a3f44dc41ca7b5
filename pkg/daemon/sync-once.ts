// One full sync of one spec into each container it selects right now, with no daemon (`kx sync NAME --once`):
// list the targets through the spec's driver, then per target connect, sync the whole tree, disconnect.

import type { SpecConfig } from '../config/types.ts';
import { ErrorCode, KxError } from '../sync/errors.ts';
import type { Hasher } from '../sync/hash.ts';
import type { PushProgress, PushResult } from '../sync/push.ts';
import type { SyncEngine } from './sync-engine.ts';
import type { Target, TargetDriver } from './target.ts';

export type OnceProgress = (target: Target, p: PushProgress) => void;

export type OnceResult =
  | { readonly target: Target; readonly ok: true; readonly result: PushResult; readonly ms: number }
  | { readonly target: Target; readonly ok: false; readonly error: string };

export interface OnceDeps {
  readonly spec: SpecConfig;
  readonly driver: TargetDriver;
  readonly engine: SyncEngine;
  readonly hasher: Hasher;
  readonly onProgress?: OnceProgress;
  readonly signal?: AbortSignal;
}

/** Results per target, in name order. KxError NOT_FOUND when the spec selects no container now. */
export async function syncOnce(deps: OnceDeps): Promise<OnceResult[]> {
  const { spec } = deps;
  const targets = await currentTargets(deps);
  const rules = spec.ignore.length > 0 ? [{ base: '', patterns: [...spec.ignore] }] : [];
  const results: OnceResult[] = [];
  for (const target of targets) {
    const started = performance.now();
    try {
      const connection = await deps.driver.connector.connect(spec, target, deps.signal);
      try {
        const result = await deps.engine.syncTree({
          root: spec.local,
          receiver: connection.receiver,
          hasher: deps.hasher,
          rules,
          ...(deps.signal && { signal: deps.signal }),
          ...(deps.onProgress && { onProgress: (p: PushProgress) => deps.onProgress!(target, p) }),
        });
        results.push({ target, ok: true, result, ms: Math.round(performance.now() - started) });
      } finally {
        await connection.close();
      }
    } catch (err) {
      results.push({ target, ok: false, error: (err as Error).message });
    }
  }
  return results;
}

/** The containers the spec selects now: the driver's follower, stopped as soon as it has listed them. */
async function currentTargets(deps: OnceDeps): Promise<Target[]> {
  const found = new Map<string, Target>();
  let problem: string | null = null;
  const source = deps.driver.follow(deps.spec, {
    added: (t) => void found.set(t.id, t),
    removed: (id) => void found.delete(id),
    problem: (reason) => {
      problem = reason;
    },
  });
  try {
    await source.start();
  } finally {
    await source.close();
  }
  if (found.size === 0) {
    const what = deps.spec.selector !== undefined ? `selector ${deps.spec.selector}` : `name ${deps.spec.pod}`;
    throw new KxError(ErrorCode.NotFound, `${deps.spec.name}: ${problem ?? `no running container matches ${what}`}`);
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}
