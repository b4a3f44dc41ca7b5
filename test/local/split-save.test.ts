// A save sent at its first event: an editor's async save (truncate, then write, each its own turn) may land as two
// batches, the first with the file still empty. The container ends with the final content, and the reload runs
// once, after it (reloads are coalesced apart from batches, pkg/lifecycle/coalescer.ts).
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpecConfig } from '../../pkg/config/types.ts';
import { Folder } from '../../pkg/daemon/folder.ts';
import type { Logger } from '../../pkg/daemon/logger.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { createHasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { removeDir, tempDir, waitFor } from './helpers.ts';

describe('a save split over two batches', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('lands the final content, and reloads once, after it', async () => {
    const hasher = await createHasher();
    const dir = await tempDir('split-save');
    cleanups.push(() => removeDir(dir));
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    await mkdir(src);
    await mkdir(dst);
    await writeFile(join(src, 'app.js'), 'v1\n');
    const tree = new LocalTree({ root: dst, hasher });
    await tree.start();
    cleanups.push(() => tree.close());
    const reloads: string[] = [];
    const log: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
    const spec: SpecConfig = { name: 'site', local: src, remote: '/app', reload: 'restart', ignore: [], target: 'docker', selector: 'app=x' };
    const folder = new Folder({
      spec,
      target: { id: 't1', name: 'c1' },
      connection: {
        receiver: tree,
        reload: async () => {
          reloads.push(await readFile(join(dst, 'app.js'), 'utf8'));
        },
        describe: () => 'test target',
        close: async () => {},
      },
      engine: { syncTree, syncPaths },
      hasher,
      log,
      onChange: () => {},
      // A window wide enough that a loaded machine's gap between the two batches stays inside it.
      timing: { reloadWindowMs: 2000 },
    });
    cleanups.push(() => folder.close());
    await folder.start();
    await waitFor('watching', () => folder.status().state === 'watching');
    await folder.idle();

    const file = await open(join(src, 'app.js'), 'r+');
    await file.truncate(0);
    await file.sync();
    // The first batch goes as soon as its event comes: the container sees the emptied file before the data is written.
    await waitFor('the truncated file landed', async () => (await readFile(join(dst, 'app.js'), 'utf8')) === '');
    await file.write('v2 final\n', 0);
    await file.close();

    await waitFor('the final content landed', async () => (await readFile(join(dst, 'app.js'), 'utf8')) === 'v2 final\n');
    await folder.idle();
    expect(reloads).toEqual(['v2 final\n']);
  });
});
