// The sender in safe mode against a real receiver tree: what it keeps, how a directory goes in a continuous sync (a
// remove the receiver checks against what kx knows there), and when it defers to a full sync.
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { syncPaths, syncTree } from '../../pkg/sync/push.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import { ErrorCode } from '../../pkg/sync/errors.ts';
import type { Receiver } from '../../pkg/sync/types.ts';

/** The tree as a receiver that predates the contents check: everything but checksDirContents. */
function olderReceiver(t: LocalTree): Receiver {
  return {
    manifest: (...a) => t.manifest(...a),
    acceptsDigestAtEnd: () => t.acceptsDigestAtEnd(),
    digests: (...a) => t.digests(...a),
    signatures: (...a) => t.signatures(...a),
    apply: (...a) => t.apply(...a),
  };
}

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

  it('removes a directory in continuous sync when the receiver finds nothing but what kx knows there', async () => {
    await mkdir(join(src, 'build', 'sub'));
    await writeFile(join(src, 'build', 'out.js'), 'mine\n');
    await writeFile(join(src, 'build', 'sub', 'map.js'), 'map\n');
    await writeFile(join(src, 'main.js'), 'main\n'); // the folder does not become empty (that would halt)
    const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    await rm(join(src, 'build'), { recursive: true });

    const batch = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: ['build'], local: first.local, remote: first.remote, safety: { mode: 'safe', ancestor: first.ancestor } });
    expect(batch.needsFullSync).toBeUndefined();
    expect(batch).toMatchObject({ deletedFiles: 2, errors: [] });
    expect(batch.removed).toContain('build');
    await expect(readdir(dst)).resolves.toEqual(['main.js']);
    expect([...batch.remote.keys()]).toEqual(['main.js']);
  });

  it('renames a directory in continuous sync as moves and a checked remove, without a full sync', async () => {
    for (let i = 0; i < 5; i++) await writeFile(join(src, 'build', `f${i}.js`), `file ${i}\n`);
    await writeFile(join(src, 'main.js'), 'main\n');
    const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    await rename(join(src, 'build'), join(src, 'dist'));

    const batch = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: ['build', 'dist'], local: first.local, remote: first.remote, safety: { mode: 'safe', ancestor: first.ancestor } });
    expect(batch.needsFullSync).toBeUndefined();
    expect(batch.errors).toEqual([]);
    expect(batch.removed).toEqual(['build']);
    expect(batch.bytesSent).toBe(0); // the files moved in the receiver: no content crossed
    await expect(readdir(dst)).resolves.toEqual(['dist', 'main.js']);
    for (let i = 0; i < 5; i++) expect(await readFile(join(dst, 'dist', `f${i}.js`), 'utf8')).toBe(`file ${i}\n`);
  });

  it('leaves a directory the container added a file to, reports CHANGED, and the full sync that follows keeps that file', async () => {
    await writeFile(join(src, 'build', 'out.js'), 'mine\n');
    await writeFile(join(src, 'main.js'), 'main\n');
    const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    // Made by the container after the last full manifest: the sender has never seen it.
    await writeFile(join(dst, 'build', 'cache.bin'), 'theirs\n');
    await rm(join(src, 'build'), { recursive: true });

    const safety = { mode: 'safe' as const, ancestor: first.ancestor };
    const batch = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: ['build'], local: first.local, remote: first.remote, safety });
    expect(batch.needsFullSync).toBeUndefined();
    // kx's own file goes (checked on its own, as a full sync would remove it); the directory stays.
    expect(batch.removed).toEqual(['build/out.js']);
    expect(batch.errors).toEqual([expect.objectContaining({ path: 'build', code: ErrorCode.Changed, message: expect.stringContaining('cache.bin was made there') })]);
    expect(await readFile(join(dst, 'build', 'cache.bin'), 'utf8')).toBe('theirs\n');
    await expect(readFile(join(dst, 'build', 'out.js'), 'utf8')).rejects.toThrow(/ENOENT/);
    expect(batch.remote.get('build')?.kind).toBe('dir'); // still there as far as kx knows

    // What the daemon does on CHANGED: a full sync, which sees the container's file and keeps it, reported.
    const full = await syncTree({ root: src, receiver: tree, hasher, rules: [], previousLocal: batch.local, safety: { mode: 'safe', ancestor: batch.ancestor } });
    expect(full).toMatchObject({ removed: [], foreign: 1, errors: [] });
    expect(await readFile(join(dst, 'build', 'cache.bin'), 'utf8')).toBe('theirs\n');
  });

  it('leaves a directory where the container changed a file kx wrote', async () => {
    await writeFile(join(src, 'build', 'out.js'), 'mine\n');
    await writeFile(join(src, 'main.js'), 'main\n');
    const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    await writeFile(join(dst, 'build', 'out.js'), 'theirs, longer\n');
    await rm(join(src, 'build'), { recursive: true });

    const batch = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: ['build'], local: first.local, remote: first.remote, safety: { mode: 'safe', ancestor: first.ancestor } });
    expect(batch.errors).toEqual([
      expect.objectContaining({ path: 'build/out.js', code: ErrorCode.Changed }),
      expect.objectContaining({ path: 'build', code: ErrorCode.Changed, message: expect.stringContaining('out.js is now 15 B') }),
    ]);
    expect(await readFile(join(dst, 'build', 'out.js'), 'utf8')).toBe('theirs, longer\n');
  });

  it('defers a directory removal to a full sync when the receiver does not check contents (an older radar)', async () => {
    await writeFile(join(src, 'build', 'out.js'), 'mine\n');
    await writeFile(join(src, 'main.js'), 'main\n');
    const older = olderReceiver(tree);
    const first = await syncTree({ root: src, receiver: older, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    await writeFile(join(dst, 'build', 'cache.bin'), 'theirs\n');
    await rm(join(src, 'build'), { recursive: true });

    const safety = { mode: 'safe' as const, ancestor: first.ancestor };
    const batch = await syncPaths({ root: src, receiver: older, hasher, rules: [], paths: ['build'], local: first.local, remote: first.remote, safety });
    expect(batch).toMatchObject({ needsFullSync: true, ops: 0, removed: [] });
    expect(await readFile(join(dst, 'build', 'out.js'), 'utf8')).toBe('mine\n');

    const full = await syncTree({ root: src, receiver: older, hasher, rules: [], previousLocal: first.local, safety });
    expect(full.removed).toEqual(['build/out.js']);
    expect(await readFile(join(dst, 'build', 'cache.bin'), 'utf8')).toBe('theirs\n');
    await expect(readFile(join(dst, 'build', 'out.js'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  for (const mode of ['safe', 'mirror'] as const) {
    it(`keeps the container's ignored files when a directory goes (${mode} mode, full and continuous sync)`, async () => {
      const rules = [{ base: '' as const, patterns: ['*.log'] }];
      await writeFile(join(src, 'build', 'out.js'), 'mine\n');
      await mkdir(join(src, 'tmp'));
      await writeFile(join(src, 'tmp', 'a.txt'), 'a\n');
      await writeFile(join(src, 'main.js'), 'main\n');
      const first = await syncTree({ root: src, receiver: tree, hasher, rules, safety: { mode, ancestor: undefined, confirmed: true } });
      // The container writes logs kx ignores into both directories; the user then deletes both locally.
      await writeFile(join(dst, 'build', 'run.log'), 'the container\'s\n');
      await writeFile(join(dst, 'tmp', 'run.log'), 'the container\'s too\n');
      await rm(join(src, 'build'), { recursive: true });
      await rm(join(src, 'tmp'), { recursive: true });

      const batch = await syncPaths({ root: src, receiver: tree, hasher, rules, paths: ['build'], local: first.local, remote: first.remote, safety: { mode, ancestor: first.ancestor, confirmed: true } });
      expect(batch.errors.map((e) => [e.path, e.code])).toEqual([['build', ErrorCode.Changed]]);
      expect(await readFile(join(dst, 'build', 'run.log'), 'utf8')).toBe('the container\'s\n');

      const full = await syncTree({ root: src, receiver: tree, hasher, rules, previousLocal: batch.local, safety: { mode, ancestor: batch.ancestor, confirmed: true } });
      expect(full.errors.map((e) => [e.path, e.code]).sort()).toEqual([['build', ErrorCode.Changed], ['tmp', ErrorCode.Changed]]);
      expect(await readFile(join(dst, 'build', 'run.log'), 'utf8')).toBe('the container\'s\n');
      expect(await readFile(join(dst, 'tmp', 'run.log'), 'utf8')).toBe('the container\'s too\n');
      expect(await readFile(join(dst, 'main.js'), 'utf8')).toBe('main\n');
    });
  }

  it('removes a file kx wrote in continuous sync without a full sync', async () => {
    await writeFile(join(src, 'a.txt'), 'a\n');
    const first = await syncTree({ root: src, receiver: tree, hasher, rules: [], safety: { mode: 'safe', ancestor: undefined } });
    await rm(join(src, 'a.txt'));
    const batch = await syncPaths({ root: src, receiver: tree, hasher, rules: [], paths: ['a.txt'], local: first.local, remote: first.remote, safety: { mode: 'safe', ancestor: first.ancestor } });
    expect(batch).toMatchObject({ removed: ['a.txt'], deletedFiles: 1 });
    expect(batch.needsFullSync).toBeUndefined();
  });
});
