// The folders of one spec (one per container) share one chokidar watcher of their local tree: each still hears every
// change, one leaving does not stop the other's, and the watcher closes with the last.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import type { Batch } from '../../pkg/daemon/batcher.ts';
import { LocalWatcher, SharedWatchers } from '../../pkg/daemon/local-watcher.ts';
import { Service } from '../../pkg/daemon/service.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { removeDir, tempDir } from './helpers.ts';

describe('folders watching one local tree', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function tree(): Promise<string> {
    const dir = await tempDir('shared-watch');
    cleanups.push(() => removeDir(dir));
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib', 'a.txt'), 'a\n');
    return dir;
  }

  function spec(local: string, ignore: string[] = []): SpecConfig {
    return { name: 'site', local, remote: '/app', reload: 'none', ignore, target: 'docker', selector: 'app=x' };
  }

  function listen(s: SpecConfig, shared: SharedWatchers): { watcher: LocalWatcher; paths: Set<string>; errors: string[] } {
    const paths = new Set<string>();
    const errors: string[] = [];
    const watcher = new LocalWatcher(s, { batch: (b: Batch) => b.paths.forEach((p) => paths.add(p)), error: (m) => errors.push(m) }, { quietMs: 5, maxWaitMs: 50 }, shared);
    cleanups.push(() => watcher.close());
    return { watcher, paths, errors };
  }

  it('share one watcher, and each hears every change', async () => {
    const dir = await tree();
    const shared = new SharedWatchers();
    const a = listen(spec(dir), shared);
    const b = listen(spec(dir), shared);
    await Promise.all([a.watcher.start(), b.watcher.start()]);
    expect(shared.size).toBe(1);
    await writeFile(join(dir, 'lib', 'b.txt'), 'b\n');
    await expect.poll(() => a.paths.has('lib/b.txt')).toBe(true);
    await expect.poll(() => b.paths.has('lib/b.txt')).toBe(true);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('keep watching for the folders that stay when one leaves, and close it with the last', async () => {
    const dir = await tree();
    const shared = new SharedWatchers();
    const a = listen(spec(dir), shared);
    const b = listen(spec(dir), shared);
    await a.watcher.start();
    await b.watcher.start();
    await a.watcher.close();
    expect(shared.size).toBe(1);
    await writeFile(join(dir, 'lib', 'c.txt'), 'c\n');
    await expect.poll(() => b.paths.has('lib/c.txt')).toBe(true);
    expect(a.paths.has('lib/c.txt')).toBe(false);
    await b.watcher.close();
    expect(shared.size).toBe(0);
    // A folder that comes later gets a watcher afresh, and hears changes.
    const c = listen(spec(dir), shared);
    await c.watcher.start();
    expect(shared.size).toBe(1);
    await writeFile(join(dir, 'lib', 'd.txt'), 'd\n');
    await expect.poll(() => c.paths.has('lib/d.txt')).toBe(true);
  });

  it('do not share across different ignore rules: each skips what its own rules skip', async () => {
    const dir = await tree();
    const shared = new SharedWatchers();
    const all = listen(spec(dir), shared);
    const noLogs = listen(spec(dir, ['*.log']), shared);
    await Promise.all([all.watcher.start(), noLogs.watcher.start()]);
    expect(shared.size).toBe(2);
    await writeFile(join(dir, 'lib', 'x.log'), 'x\n');
    await writeFile(join(dir, 'lib', 'y.txt'), 'y\n');
    await expect.poll(() => all.paths.has('lib/x.log') && all.paths.has('lib/y.txt')).toBe(true);
    await expect.poll(() => noLogs.paths.has('lib/y.txt')).toBe(true);
    expect(noLogs.paths.has('lib/x.log')).toBe(false);
  });

  it('sync one tree into two containers through one watcher; each container gets every save, and keeps getting them when the other goes', async () => {
    const hasher = await createHasher();
    const src = await tree();
    const shared = new SharedWatchers();
    const services: Service[] = [];
    const dsts: string[] = [];
    for (const id of ['c1', 'c2']) {
      const dst = join(await tempDir(`shared-dst-${id}`), 'app');
      cleanups.push(() => removeDir(join(dst, '..')));
      await mkdir(dst);
      const receiver = new LocalTree({ root: dst, hasher });
      await receiver.start();
      cleanups.push(() => receiver.close());
      const service = new Service({
        spec: spec(src),
        target: { id, name: id },
        connector: { connect: async () => ({ receiver, reload: async () => {}, describe: () => id, close: async () => {} }) },
        engine: { syncTree, syncPaths },
        hasher,
        log: { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} },
        onChange: () => {},
        timing: { retryMs: 20, quietMs: 5, maxWaitMs: 50 },
        watchers: shared,
      });
      cleanups.push(() => service.close());
      services.push(service);
      dsts.push(dst);
    }
    await Promise.all(services.map((s) => s.start()));
    expect(shared.size).toBe(1);
    for (const dst of dsts) await expect.poll(() => readFile(join(dst, 'lib', 'a.txt'), 'utf8').catch(() => null), { timeout: 10_000 }).toBe('a\n');
    await writeFile(join(src, 'lib', 'a.txt'), 'saved once\n');
    for (const dst of dsts) await expect.poll(() => readFile(join(dst, 'lib', 'a.txt'), 'utf8'), { timeout: 10_000 }).toBe('saved once\n');
    await services[0].close();
    expect(shared.size).toBe(1);
    await writeFile(join(src, 'lib', 'a.txt'), 'saved again\n');
    await expect.poll(() => readFile(join(dsts[1], 'lib', 'a.txt'), 'utf8'), { timeout: 10_000 }).toBe('saved again\n');
    expect(await readFile(join(dsts[0], 'lib', 'a.txt'), 'utf8')).toBe('saved once\n');
    await services[1].close();
    expect(shared.size).toBe(0);
  });
});
