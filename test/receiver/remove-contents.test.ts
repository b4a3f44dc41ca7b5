// A directory's remove that carries the entries expected beneath it (Prior.contents): the receiver removes the
// directory only when it holds nothing but those, each as listed; otherwise it leaves all of it (CHANGED). The list
// comes from the peer: it is compared against, never used to open anything, and a path in it that could name
// something outside the directory is refused.
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, type Hasher } from '../../pkg/sync/hash.ts';
import { LocalTree } from '../../pkg/receiver/local-tree.ts';
import type { PriorEntry } from '../../pkg/sync/types.ts';
import { opsOf } from '../support/batch-ops.ts';

let base: string;
let root: string;
let outside: string;
let hasher: Hasher;
let tree: LocalTree;

const MTIME = 1_600_000_000_000;

beforeEach(async () => {
  hasher ??= await createHasher();
  base = await mkdtemp(join(tmpdir(), 'kx-remove-contents-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  await mkdir(join(root, 'd', 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'keep'), 'not the container\'s\n');
  await writeFile(join(root, 'd', 'a.txt'), 'aaa');
  await writeFile(join(root, 'd', 'sub', 'b.txt'), 'bb');
  await symlink('../a.txt', join(root, 'd', 'sub', 'l'));
  for (const f of ['d/a.txt', 'd/sub/b.txt']) await utimes(join(root, f), MTIME / 1000, MTIME / 1000);
  tree = new LocalTree({ root, hasher });
});
afterEach(() => rm(base, { recursive: true, force: true }));

/** What kx knows beneath d after syncing the tree above. */
const known = (): PriorEntry[] => [
  { path: 'a.txt', kind: 'file', size: 3, mtimeMs: MTIME },
  { path: 'sub', kind: 'dir', size: 0, mtimeMs: 0 },
  { path: 'sub/b.txt', kind: 'file', size: 2, mtimeMs: MTIME },
  { path: 'sub/l', kind: 'symlink', size: 0, mtimeMs: 0, target: '../a.txt' },
];
const removeD = (contents: readonly PriorEntry[], path = 'd') => tree.apply(opsOf({ op: 'remove', path, expect: { kind: 'dir', size: 0, mtimeMs: 0, contents } }));
const exists = (p: string): Promise<boolean> => lstat(p).then(() => true, () => false);

describe('a directory\'s remove with its expected contents', () => {
  it('removes the directory when it holds exactly what kx knows there', async () => {
    const res = await removeD(known());
    expect(res).toEqual({ applied: 1, bytesSent: 0, errors: [] });
    expect(await exists(join(root, 'd'))).toBe(false);
  });

  it('removes it when some of what kx knows there is gone already (moved out earlier in the batch)', async () => {
    await rm(join(root, 'd', 'sub'), { recursive: true });
    const res = await removeD(known());
    expect(res.errors).toEqual([]);
    expect(await exists(join(root, 'd'))).toBe(false);
  });

  it.each([
    ['a file the container made', async () => writeFile(join(root, 'd', 'sub', 'new.log'), 'theirs'), 'sub/new.log was made there'],
    ['an empty directory the container made', async () => mkdir(join(root, 'd', 'cache')), 'cache was made there'],
    ['a file kx wrote, changed in size', async () => writeFile(join(root, 'd', 'a.txt'), 'changed'), 'a.txt is now 7 B'],
    ['a file kx wrote, changed in mtime only', async () => utimes(join(root, 'd', 'sub', 'b.txt'), 1_700_000_000, 1_700_000_000), 'sub/b.txt is now 2 B, modified 2023'],
    ['a link kx made, pointing elsewhere now', async () => {
      await rm(join(root, 'd', 'sub', 'l'));
      await symlink('b.txt', join(root, 'd', 'sub', 'l'));
    }, 'sub/l now links elsewhere'],
    ['a directory kx made, now a file', async () => {
      await rm(join(root, 'd', 'sub'), { recursive: true });
      await writeFile(join(root, 'd', 'sub'), 'x');
    }, 'sub is now a file'],
  ])('leaves the whole directory (CHANGED) when it holds %s', async (_what, change, said) => {
    await change();
    const before = await readdir(join(root, 'd'), { recursive: true });
    const res = await removeD(known());
    expect(res.applied).toBe(0);
    expect(res.errors).toEqual([expect.objectContaining({ path: 'd', code: 'CHANGED', message: expect.stringContaining(said) })]);
    expect(await readdir(join(root, 'd'), { recursive: true })).toEqual(before);
  });

  it('does not follow a directory the container swapped for a symlink out of the root, and leaves it', async () => {
    await rm(join(root, 'd', 'sub'), { recursive: true });
    await symlink(outside, join(root, 'd', 'sub'));
    const res = await removeD(known());
    expect(res.errors).toEqual([expect.objectContaining({ path: 'd', code: 'CHANGED', message: expect.stringContaining('sub is now a symlink') })]);
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('not the container\'s\n');
    expect((await lstat(join(root, 'd', 'sub'))).isSymbolicLink()).toBe(true);
  });

  it('leaves the path alone when the directory itself is now a symlink out of the root', async () => {
    await rm(join(root, 'd'), { recursive: true });
    await symlink(outside, join(root, 'd'));
    const res = await removeD([{ path: 'keep', kind: 'file', size: 20, mtimeMs: 0 }]);
    expect(res.errors).toEqual([expect.objectContaining({ path: 'd', code: 'CHANGED', message: expect.stringContaining('now a symlink') })]);
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('not the container\'s\n');
  });

  it.each([
    ['a parent component', '../outside/keep'],
    ['a parent component further down', 'sub/../../../outside/keep'],
    ['an absolute path', '/etc/passwd'],
    ['an empty component', 'sub//b.txt'],
    ['a NUL byte', 'a.txt\0'],
    ['no path at all', ''],
  ])('refuses a listed entry with %s (INVALID_PATH) and removes nothing', async (_what, path) => {
    const res = await removeD([...known(), { path, kind: 'file', size: 20, mtimeMs: 0 }]);
    expect(res.errors).toEqual([expect.objectContaining({ code: 'INVALID_PATH' })]);
    expect(await exists(join(root, 'd', 'sub', 'b.txt'))).toBe(true);
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('not the container\'s\n');
  });

  it('refuses a remove whose own path leaves the root, whatever contents it lists', async () => {
    const res = await removeD([], '../outside');
    expect(res.errors).toEqual([expect.objectContaining({ path: '../outside', code: 'INVALID_PATH' })]);
    expect((await stat(outside)).isDirectory()).toBe(true);
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('not the container\'s\n');
  });

  it('needs an empty directory to be empty when the list is empty', async () => {
    const res = await removeD([]);
    expect(res.errors).toEqual([expect.objectContaining({ path: 'd', code: 'CHANGED', message: expect.stringContaining('a.txt was made there') })]);
    await rm(join(root, 'd'), { recursive: true });
    await mkdir(join(root, 'd'));
    expect((await removeD([])).errors).toEqual([]);
    expect(await exists(join(root, 'd'))).toBe(false);
  });
});
