// The sender in safe mode against a real receiver tree: what it keeps, and when it defers to a full sync.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';

describe('safe push', () => {
  let base: string;
  let src: string;
  let dst: string;
  let hasher: Hasher;
  let tree: LocalTree;

  beforeEach(async () => {
    hasher = await createHasher();
    base = await mkdtemp(join(tmpdir(), 'kx-safe-push-'));
    src = join(base, 'src');
    dst = join(base, 'dst');
    await mkdir(join(src, 'build'), { recursive: true });
    await mkdir(dst);
    tree = new LocalTree({ root: dst, hasher });
    await tree.start();
  });
  afterEach(async () => {
    await tree.close();
    await rm(base, { recursive: true, force: true });
  });

  it('defers a directory removal in continuous sync to a full sync, which keeps what the container made in it', async () => {
    await writeFile(join(src, 'build', 'out.js'), 'mine\n');
    await writeFile(join(src, 'main.js'), 'main\n'); // the folder does not become empty (that would halt)
    const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    // Made by the container after the last full manifest: the sender has never seen it.
    await writeFile(join(dst, 'build', 'cache.bin'), 'theirs\n');
    await rm(join(src, 'build'), { recursive: true });

    const safety = { mode: 'safe' as const, ancestor: first.ancestor };
    const batch = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: ['build'], local: first.local, remote: first.remote, safety });
    expect(batch).toMatchObject({ needsFullSync: true, ops: 0, removed: [] });
    expect(await readFile(join(dst, 'build', 'out.js'), 'utf8')).toBe('mine\n');

    const full = await syncTree({ root: src, receiver: tree, hasher, rules: [], previousLocal: first.local, safety });
    expect(full.removed).toEqual(['build/out.js']);
    expect(await readFile(join(dst, 'build', 'cache.bin'), 'utf8')).toBe('theirs\n');
    await expect(readFile(join(dst, 'build', 'out.js'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('removes a file kx wrote in continuous sync without a full sync', async () => {
    await writeFile(join(src, 'a.txt'), 'a\n');
    const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    await rm(join(src, 'a.txt'));
    const batch = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: ['a.txt'], local: first.local, remote: first.remote, safety: { mode: 'safe', ancestor: first.ancestor } });
    expect(batch).toMatchObject({ removed: ['a.txt'], deletedFiles: 1 });
    expect(batch.needsFullSync).toBeUndefined();
  });
});
