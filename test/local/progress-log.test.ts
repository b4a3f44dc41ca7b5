// A long initial sync says how far it got in the daemon's log, not only in `kx get`: someone watching `kx watch`
// start on a large tree sees it move.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { Folder } from '../../pkg/daemon/folder.ts';
import type { Logger } from '../../pkg/daemon/logger.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { removeDir, tempDir, waitFor } from './helpers.ts';

describe('initial sync progress in the log', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function syncWith(progressLogMs: number): Promise<string[]> {
    const hasher = await createHasher();
    const dir = await tempDir('progress');
    cleanups.push(() => removeDir(dir));
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    await mkdir(join(src, 'lib'), { recursive: true });
    await mkdir(dst);
    for (let i = 0; i < 40; i++) await writeFile(join(src, 'lib', `m${i}.js`), `export const v${i} = ${i};\n`.repeat(50));
    const tree = new LocalTree({ root: dst, hasher });
    await tree.start();
    cleanups.push(() => tree.close());
    const lines: string[] = [];
    const log: Logger = { error: (m) => lines.push(m), warn: (m) => lines.push(m), info: (m) => lines.push(m), debug: () => {} };
    const spec: SpecConfig = { name: 'site', local: src, remote: '/app', reload: 'none', ignore: [], target: 'docker', selector: 'app=x' };
    const folder = new Folder({
      spec,
      target: { id: 't1', name: 'web' },
      connection: { receiver: tree, reload: async () => {}, describe: () => 'test target', close: async () => {} },
      engine: { syncTree, syncPaths },
      hasher,
      log,
      onChange: () => {},
      timing: { progressLogMs },
    });
    cleanups.push(() => folder.close());
    await folder.start();
    await waitFor('the initial sync to land', () => folder.status().state === 'watching');
    return lines;
  }

  it('logs the share sent, files and MiB while the initial sync runs', async () => {
    const lines = await syncWith(0);
    const progress = lines.filter((l) => l.startsWith('site → web: initial sync ') && l.includes('%'));
    expect(progress.length).toBeGreaterThan(0);
    for (const l of progress) expect(l).toMatch(/^site → web: initial sync \d{1,3}% \(\d+\/\d+ files, \d+\.\d\/\d+\.\d MiB\)$/);
    const shares = progress.map((l) => Number(/(\d+)%/.exec(l)![1]));
    expect(shares).toEqual([...shares].sort((x, y) => x - y));
    expect(shares.at(-1)).toBe(100);
  });

  it('stays quiet about progress when the sync is over before the first report is due', async () => {
    const lines = await syncWith(60_000);
    expect(lines.filter((l) => l.includes('%'))).toEqual([]);
    expect(lines.some((l) => /^site → web: initial sync sent \d+ ops/.test(l))).toBe(true);
  });
});
