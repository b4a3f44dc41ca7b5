// A Folder whose target is unreachable for a while (tunnel, radar pod or network down) says `reconnecting` with the
// reason, and goes back to watching once the resume sync has landed.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { Folder } from '../../pkg/daemon/folder.ts';
import type { Logger } from '../../pkg/daemon/logger.ts';
import { ErrorCode, KxError } from '../../pkg/sync/errors.ts';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import type { BatchOp, BatchResult, IgnoreRuleSet, Manifest, Receiver, RelPath, Signature } from '../../pkg/sync/types.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { removeDir, tempDir, waitFor } from './helpers.ts';

/** A receiver that fails every call with `failure` while it is set, like a radar client whose tunnel is down. */
class FlakyReceiver implements Receiver {
  failure: Error | null = null;
  readonly #inner: Receiver;

  constructor(inner: Receiver) {
    this.#inner = inner;
  }

  async manifest(rules: readonly IgnoreRuleSet[], signal?: AbortSignal): Promise<Manifest> {
    if (this.failure) throw this.failure;
    return this.#inner.manifest(rules, signal);
  }

  async *signatures(paths: readonly RelPath[], signal?: AbortSignal): AsyncIterable<{ path: RelPath; signature: Signature | null }> {
    if (this.failure) throw this.failure;
    yield* this.#inner.signatures(paths, signal);
  }

  async apply(ops: AsyncIterable<BatchOp>, signal?: AbortSignal): Promise<BatchResult> {
    if (this.failure) throw this.failure;
    return this.#inner.apply(ops, signal);
  }
}

describe('a folder whose target is unreachable', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(failure: Error | null): Promise<{ folder: Folder; receiver: FlakyReceiver; src: string; dst: string; lines: string[] }> {
    const hasher: Hasher = await createHasher();
    const dir = await tempDir('reconnect');
    cleanups.push(() => removeDir(dir));
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    await mkdir(src);
    await mkdir(dst);
    await writeFile(join(src, 'a.txt'), 'one\n');
    const tree = new LocalTree({ root: dst, hasher });
    await tree.start();
    cleanups.push(() => tree.close());
    const receiver = new FlakyReceiver(tree);
    receiver.failure = failure;
    const lines: string[] = [];
    const log: Logger = { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => {} };
    const spec: SpecConfig = { name: 'site', local: src, remote: '/app', reload: 'none', ignore: [], target: 'kubernetes', selector: 'app=x' };
    const folder = new Folder({
      spec,
      target: { id: 't1', name: 'pod-1/app' },
      connection: { receiver, reload: async () => {}, describe: () => 'test target', close: async () => {} },
      engine: { syncTree, syncPaths },
      hasher,
      log,
      onChange: () => {},
      timing: { retryMs: 20, quietMs: 5, maxWaitMs: 50 },
    });
    cleanups.push(() => folder.close());
    await folder.start();
    return { folder, receiver, src, dst, lines };
  }

  it('shows reconnecting with the reason while syncs fail with UNAVAILABLE, then watching after the resume sync', async () => {
    const { folder, receiver, dst, lines } = await setup(new KxError(ErrorCode.Unavailable, 'tunnel to node node-a: radar pod kx-radar-x is gone'));

    const down = await waitFor('reconnecting', () => (folder.status().state === 'reconnecting' ? folder.status() : null));
    expect(down.lastError).toBe('tunnel to node node-a: radar pod kx-radar-x is gone');

    receiver.failure = null;
    const up = await waitFor('watching', () => (folder.status().state === 'watching' ? folder.status() : null));
    expect(up.lastError).toBeUndefined();
    expect(await readFile(join(dst, 'a.txt'), 'utf8')).toBe('one\n');
    expect(lines.some((l) => /^site → pod-1\/app: resumed after \d+ ms$/.test(l))).toBe(true);
  });

  it('resumes after a drop while watching and delivers the edit made meanwhile', async () => {
    const { folder, receiver, src, dst } = await setup(null);
    await waitFor('watching', () => folder.status().state === 'watching');

    receiver.failure = new KxError(ErrorCode.Unavailable, 'connection to radar lost');
    await writeFile(join(src, 'a.txt'), 'two\n');
    await waitFor('reconnecting', () => folder.status().state === 'reconnecting');
    receiver.failure = null;
    await waitFor('watching with the edit', async () => folder.status().state === 'watching' && (await readFile(join(dst, 'a.txt'), 'utf8')) === 'two\n');
  });

  it('leaves a file the container made alone when it resumes after a drop', async () => {
    const { folder, receiver, src, dst } = await setup(null);
    await waitFor('watching', () => folder.status().state === 'watching');
    await writeFile(join(dst, 'made-in-container.txt'), 'theirs\n');

    receiver.failure = new KxError(ErrorCode.Unavailable, 'connection to radar lost');
    await writeFile(join(src, 'a.txt'), 'two\n');
    await waitFor('reconnecting', () => folder.status().state === 'reconnecting');
    receiver.failure = null;
    await waitFor('watching with the edit', async () => folder.status().state === 'watching' && (await readFile(join(dst, 'a.txt'), 'utf8')) === 'two\n');
    expect(await readFile(join(dst, 'made-in-container.txt'), 'utf8')).toBe('theirs\n');
    expect(folder.status()).toMatchObject({ foreignFiles: 1, deletedFiles: 0 });
  });

  it('still shows error for a failure that reconnecting cannot fix', async () => {
    const { folder } = await setup(new KxError(ErrorCode.PermissionDenied, 'token of namespace a refused for a pod of namespace b'));

    const status = await waitFor('error', () => (folder.status().state === 'error' ? folder.status() : null));
    expect(status.lastError).toBe('token of namespace a refused for a pod of namespace b');
  });
});
