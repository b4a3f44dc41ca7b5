// The folders of one spec (one per container) share one chokidar watcher of their local tree: each still hears every
// change, one leaving does not stop the other's, and the watcher closes with the last.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import type { Batch } from '../../pkg/daemon/batcher.ts';
import { LocalWatcher, SharedWatchers } from '../../pkg/daemon/local-watcher.ts';
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
});
