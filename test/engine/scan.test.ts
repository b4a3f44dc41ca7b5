import { readdirSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { chmod, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHasher, digestHex } from '../../pkg/sync/hash.ts';
import type { Hasher } from '../../pkg/sync/hash.ts';
import { IgnoreMatcher } from '../../pkg/sync/ignore.ts';
import { hashFile, scanPaths, scanTree, updateManifest } from '../../pkg/sync/scan.ts';
import type { ScanDir, ScanProgress } from '../../pkg/sync/scan.ts';
import { Dir } from '../../pkg/receiver/dir.ts';
import type { Entry } from '../../pkg/sync/types.ts';
import { makeTempDir, randomBytes } from './helpers.ts';

let hasher: Hasher;
let root: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  hasher = await createHasher();
});
beforeEach(async () => {
  ({ dir: root, cleanup } = await makeTempDir());
});
afterEach(() => cleanup());

/** Create files (string content), directories (trailing '/'), and symlinks ({ link }) under root. */
async function tree(spec: Record<string, string | { link: string }>): Promise<void> {
  for (const [p, v] of Object.entries(spec)) {
    const abs = join(root, p);
    if (p.endsWith('/')) {
      await mkdir(abs, { recursive: true });
    } else {
      await mkdir(join(abs, '..'), { recursive: true });
      if (typeof v === 'string') await writeFile(abs, v);
      else await symlink(v.link, abs);
    }
  }
}

async function paths(opts: Partial<Parameters<typeof scanTree>[1]> = {}): Promise<string[]> {
  const { manifest } = await scanTree(root, { hasher, ...opts });
  return [...manifest.keys()].sort();
}

describe('scanTree', () => {
  it('records files with size, permission bits, whole-ms mtime and xxh64 digest', async () => {
    await tree({ 'a.txt': 'hello' });
    await chmod(join(root, 'a.txt'), 0o4751);
    await utimes(join(root, 'a.txt'), 1_700_000_000.1239, 1_700_000_000.1239);
    const { manifest } = await scanTree(root, { hasher });
    expect(manifest.get('a.txt')).toEqual({
      path: 'a.txt',
      kind: 'file',
      mode: 0o4751,
      size: 5,
      mtimeMs: 1_700_000_000_123,
      digest: digestHex(hasher.h64(new TextEncoder().encode('hello'))),
    });
  });

  it('streams the digest of a file larger than its read buffer', async () => {
    const data = randomBytes(1_000_003, 5);
    await writeFile(join(root, 'big'), data);
    const { manifest } = await scanTree(root, { hasher });
    expect(manifest.get('big')?.digest).toBe(digestHex(hasher.h64(data)));
    expect(manifest.get('big')?.size).toBe(data.length);
  });

  it('includes empty directories and nested directories with their modes', async () => {
    await tree({ 'empty/': '', 'a/b/c/': '' });
    await chmod(join(root, 'a/b'), 0o711);
    const { manifest } = await scanTree(root, { hasher });
    expect([...manifest.keys()].sort()).toEqual(['a', 'a/b', 'a/b/c', 'empty']);
    expect(manifest.get('a/b')).toMatchObject({ kind: 'dir', mode: 0o711, size: 0 });
  });

  it('stores symlinks as links, never following them: dangling, outside the root, and to directories', async () => {
    await tree({
      'dir/f': 'x',
      dangling: { link: 'nowhere/at/all' },
      outside: { link: '/etc' },
      todir: { link: 'dir' },
    });
    const { manifest } = await scanTree(root, { hasher });
    expect(manifest.get('dangling')).toMatchObject({ kind: 'symlink', target: 'nowhere/at/all', mode: 0o777, size: 0 });
    expect(manifest.get('outside')).toMatchObject({ kind: 'symlink', target: '/etc' });
    expect(manifest.get('todir')).toMatchObject({ kind: 'symlink', target: 'dir' });
    expect([...manifest.keys()].some((p) => p.startsWith('outside/') || p.startsWith('todir/'))).toBe(false);
  });

  it('gives an empty manifest for a missing root', async () => {
    const { manifest } = await scanTree(join(root, 'missing'), { hasher });
    expect(manifest.size).toBe(0);
  });

  it('refuses a root that is a file', async () => {
    await tree({ f: 'x' });
    await expect(scanTree(join(root, 'f'), { hasher })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('always ignores .git/ and radar temp files, even against a negation', async () => {
    await tree({ '.git/HEAD': 'ref', 'sub/.git/config': 'x', '.kx-tmp-123': 'partial', 'sub/.kx-tmp-x': 'p', '.gitignore': '!.git/\n', keep: 'k' });
    expect(await paths()).toEqual(['.gitignore', 'keep', 'sub']);
  });

  it('applies nested .gitignore files with negation, anchoring and dir-only patterns', async () => {
    await tree({
      '.gitignore': '*.log\n/top.txt\nbuild/\n# a comment\n',
      'a.log': '',
      'top.txt': '',
      'sub/top.txt': '',
      'build/out.o': '',
      'sub/build': 'a file named build is not a directory',
      'sub/.gitignore': '!debug.log\n',
      'sub/debug.log': '',
      'sub/other.log': '',
    });
    expect(await paths()).toEqual(['.gitignore', 'sub', 'sub/.gitignore', 'sub/build', 'sub/debug.log', 'sub/top.txt']);
  });

  it('applies .kxignore over .gitignore in the same directory', async () => {
    await tree({ '.gitignore': 'secret.txt\n', '.kxignore': '!secret.txt\nlocal/\n', 'secret.txt': 's', 'local/x': '' });
    expect(await paths()).toEqual(['.gitignore', '.kxignore', 'secret.txt']);
  });

  it('does not descend into an ignored directory, so its ignore files cannot re-include anything', async () => {
    await tree({ '.gitignore': 'vendor/\n', 'vendor/.gitignore': '!*\n', 'vendor/lib.js': '' });
    const { rules } = await scanTree(root, { hasher });
    expect(await paths()).toEqual(['.gitignore']);
    expect(rules).toEqual([{ base: '', patterns: ['vendor/'] }]);
  });

  it('applies given rules, with ignore files winning over them', async () => {
    await tree({ 'a.tmp': '', 'b.tmp': '', '.gitignore': '!b.tmp\n', 'x/y.tmp': '' });
    const rules = [{ base: '', patterns: ['*.tmp'] }];
    expect(await paths({ rules })).toEqual(['.gitignore', 'b.tmp', 'x']);
  });

  it('skips ignore files when asked, applying only the given rules', async () => {
    await tree({ '.gitignore': 'a\n', a: '', b: '' });
    expect(await paths({ readIgnoreFiles: false, rules: [{ base: '', patterns: ['b'] }] })).toEqual(['.gitignore', 'a']);
  });

  it('returns every rule that applied, and an IgnoreMatcher over them decides like the scan', async () => {
    await tree({ '.gitignore': '*.o\n', 'src/.kxignore': 'gen/\n!keep.o\n', 'src/gen/x': '', 'src/keep.o': '', 'src/a.o': '', 'src/a.c': '' });
    const { manifest, rules } = await scanTree(root, { hasher, rules: [{ base: '', patterns: ['*.bak'] }] });
    expect(rules).toEqual([
      { base: '', patterns: ['*.bak'] },
      { base: '', patterns: ['*.o'] },
      { base: 'src', patterns: ['gen/', '!keep.o'] },
    ]);
    const m = new IgnoreMatcher(rules);
    for (const p of ['src/gen', 'src/a.o']) expect(m.ignores(p, p === 'src/gen')).toBe(true);
    expect(m.ignores('src/gen/x', false)).toBe(true);
    for (const [p, e] of manifest) expect(m.ignores(p, e.kind === 'dir')).toBe(false);
  });

  it('reuses the previous digest when size and mtime are unchanged, and rehashes when either changed', async () => {
    await tree({ same: 'aaaa', touched: 'bbbb' });
    const first = (await scanTree(root, { hasher })).manifest;
    // Same size and mtime but different content: only a reused digest can still show the old content's digest.
    const sameStat = first.get('same')!;
    await writeFile(join(root, 'same'), 'zzzz');
    await utimes(join(root, 'same'), sameStat.mtimeMs / 1000, sameStat.mtimeMs / 1000);
    await writeFile(join(root, 'touched'), 'cccc');
    await utimes(join(root, 'touched'), 1000, 1000);
    const second = (await scanTree(root, { hasher, previous: first })).manifest;
    expect(second.get('same')?.digest).toBe(first.get('same')?.digest);
    expect(second.get('touched')?.digest).toBe(digestHex(hasher.h64(new TextEncoder().encode('cccc'))));
    const fresh = (await scanTree(root, { hasher })).manifest;
    expect(fresh.get('same')?.digest).toBe(digestHex(hasher.h64(new TextEncoder().encode('zzzz'))));
  });

  it('reports progress throttled, not once per file, and once at the end with the totals', async () => {
    const spec: Record<string, string> = {};
    for (let i = 0; i < 300; i++) spec[`d${i % 10}/f${i}`] = 'xy';
    await tree(spec);
    const seen: ScanProgress[] = [];
    await scanTree(root, { hasher, onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeLessThan(300);
    expect(seen.at(-1)).toMatchObject({ files: 300, dirs: 10, bytes: 600 });
  });

  it('honours an aborted signal', async () => {
    await tree({ a: 'x' });
    await expect(scanTree(root, { hasher, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('stops with CANCELLED when aborted while scanning', async () => {
    const spec: Record<string, string> = {};
    for (let i = 0; i < 200; i++) spec[`d${i % 20}/f${i}`] = 'x';
    await tree(spec);
    const controller = new AbortController();
    const scan = scanTree(root, { hasher, signal: controller.signal, onProgress: () => controller.abort() });
    await expect(scan).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});

describe('scan through a directory held open (ScanOptions.dir: each directory entered inside its parent)', () => {
  /** Scan root through the receiver's Dir; `onEnter(dir)` runs before each subdirectory of dir is entered, `onList(dir)` after dir is listed. */
  async function scanHeld(hooks: { onEnter?: (dir: string) => void; onList?: (dir: string) => void } = {}) {
    const wrap = (d: ScanDir, path: string): ScanDir => ({
      at: (name) => d.at(name),
      list: () => {
        const names = d.list();
        hooks.onList?.(path);
        return names;
      },
      enter: (name, shown) => {
        hooks.onEnter?.(path);
        const sub = d.enter(name, shown);
        return sub && wrap(sub, path === '' ? name : `${path}/${name}`);
      },
      close: () => d.close(),
    });
    const held = Dir.openRoot(root);
    try {
      return await scanTree(root, { hasher, dir: wrap(held, '') });
    } finally {
      held.close();
    }
  }

  /** Open fds of this process that hold a directory at or beneath root. */
  function dirFdsInRoot(): number {
    let n = 0;
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`);
        if (target === root || target.startsWith(`${root}/`)) n++;
      } catch {
        // closed meanwhile (the fd readdir itself used)
      }
    }
    return n;
  }

  it('gives the same manifest and rules as the scan by path', async () => {
    await tree({
      '.gitignore': '*.log\n',
      'a.txt': 'a',
      'x.log': '',
      'd/e/f.txt': 'deep',
      'd/.kxignore': 'skip/\n',
      'd/skip/s': '',
      'd/link': { link: '../a.txt' },
      'empty/': '',
    });
    const byPath = await scanTree(root, { hasher });
    const pinned = await scanHeld();
    expect([...pinned.manifest.entries()].sort()).toEqual([...byPath.manifest.entries()].sort());
    expect(pinned.rules).toEqual(byPath.rules);
    expect([...pinned.manifest.keys()].sort()).toEqual(['.gitignore', 'a.txt', 'd', 'd/.kxignore', 'd/e', 'd/e/f.txt', 'd/link', 'empty']);
  });

  it('lists nothing outside the root when a directory is swapped for a symlink after its parent was listed', async () => {
    const outside = await makeTempDir();
    try {
      await writeFile(join(outside.dir, 'secret'), 'node secret');
      await tree({ 'sub/inner.txt': 'in', 'z.txt': 'z' });
      let swapped = false;
      const onEnter = (dir: string) => {
        if (dir !== '' || swapped) return;
        renameSync(join(root, 'sub'), join(root, 'moved-away'));
        symlinkSync(outside.dir, join(root, 'sub'));
        swapped = true;
      };
      const { manifest } = await scanHeld({ onEnter });
      expect(swapped).toBe(true);
      const secretDigest = digestHex(hasher.h64(new TextEncoder().encode('node secret')));
      expect([...manifest.keys()].sort()).toEqual(['sub', 'z.txt']);
      expect(manifest.get('sub')).toMatchObject({ kind: 'symlink', target: outside.dir });
      expect([...manifest.values()].map((e) => e.digest)).not.toContain(secretDigest);
    } finally {
      await outside.cleanup();
    }
  });

  it('holds one directory fd per level of depth while walking, and none once done', async () => {
    await tree({ 'a/b/c/f': 'x', 'a/b2/g': 'y', 'h/i': 'z' });
    const held = new Map<string, number>();
    await scanHeld({ onList: (dir) => held.set(dir, dirFdsInRoot()) });
    expect(Object.fromEntries(held)).toEqual({ '': 1, a: 2, 'a/b': 3, 'a/b/c': 4, 'a/b2': 3, h: 2 });
    expect(dirFdsInRoot()).toBe(0);
  });

  it('is not offered by scanPaths', async () => {
    const held = Dir.openRoot(root);
    try {
      await expect(scanPaths(root, ['a'], { hasher, rules: [], dir: held })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      held.close();
    }
  });
});

describe('hashFile', () => {
  it('does not wait on a FIFO put where a file was (a hostile receiver could otherwise stall the scan)', () => {
    const fifo = join(root, 'was-a-file');
    execFileSync('mkfifo', [fifo]);
    // A blocking open of a FIFO with no writer never returns: this call would hang instead of answering.
    expect(hashFile(fifo, hasher)).toBeNull();
  });
});

describe('scanPaths', () => {
  it('returns the entry at a path and everything beneath a directory', async () => {
    await tree({ 'a/b/c': '1', 'a/d/': '', x: '2' });
    const r = await scanPaths(root, ['a', 'x'], { hasher, rules: [] });
    expect([...r.keys()].sort()).toEqual(['a', 'a/b', 'a/b/c', 'a/d', 'x']);
    expect(r.get('a/b/c')).toMatchObject({ kind: 'file', size: 1 });
  });

  it('maps a path that is gone to null', async () => {
    await tree({ a: '' });
    const r = await scanPaths(root, ['gone', 'nodir/child'], { hasher, rules: [] });
    expect(r).toEqual(new Map([['gone', null], ['nodir/child', null]]));
  });

  it("applies the ignore files of each path's ancestors", async () => {
    await tree({ '.gitignore': '*.log\n', 'a/.kxignore': 'tmp/\n', 'a/b/x.log': '', 'a/tmp/f': '', 'a/b/ok': '' });
    const r = await scanPaths(root, ['a/b/x.log', 'a/tmp/f', 'a/tmp', 'a/b/ok'], { hasher, rules: [] });
    expect(r.get('a/b/x.log')).toBeNull();
    expect(r.get('a/tmp/f')).toBeNull();
    expect(r.get('a/tmp')).toBeNull();
    expect(r.get('a/b/ok')).toMatchObject({ kind: 'file' });
  });

  it('applies the given rules, and ignores paths inside .git', async () => {
    await tree({ 'x.tmp': '', '.git/index': '' });
    const r = await scanPaths(root, ['x.tmp', '.git/index'], { hasher, rules: [{ base: '', patterns: ['*.tmp'] }] });
    expect(r).toEqual(new Map([['x.tmp', null], ['.git/index', null]]));
  });

  it('does not follow a symlinked ancestor directory', async () => {
    await tree({ 'real/f': 'x', link: { link: 'real' } });
    const r = await scanPaths(root, ['link/f', 'link'], { hasher, rules: [] });
    expect(r.get('link/f')).toBeNull();
    expect(r.get('link')).toMatchObject({ kind: 'symlink', target: 'real' });
  });

  it('refuses a malformed path', async () => {
    await expect(scanPaths(root, ['../escape'], { hasher, rules: [] })).rejects.toMatchObject({ code: 'INVALID_PATH' });
  });

  it('feeds updateManifest, which drops what vanished beneath a rescanned directory', async () => {
    await tree({ 'd/a': '1', 'd/b': '2', e: '3' });
    const before = (await scanTree(root, { hasher })).manifest;
    await rm(join(root, 'd/b'));
    await tree({ 'd/c': '4' });
    const scanned = await scanPaths(root, ['d'], { hasher, rules: [] });
    const after = updateManifest(before, ['d'], scanned);
    expect([...after.keys()].sort()).toEqual(['d', 'd/a', 'd/c', 'e']);
    expect(after.get('e')).toBe(before.get('e') as Entry);
  });
});

describe('stat-only scan (hashFiles: false)', () => {
  it('reads no file: digests only from a previous entry of the same size and mtime', async () => {
    await writeFile(join(root, 'a'), 'aaa');
    await writeFile(join(root, 'b'), 'bbb');
    await utimes(join(root, 'a'), 1_700_000_000, 1_700_000_000);
    await utimes(join(root, 'b'), 1_700_000_000, 1_700_000_000);
    const previous = new Map<string, Entry>([
      ['a', { path: 'a', kind: 'file', mode: 0o644, size: 3, mtimeMs: 1_700_000_000_000, digest: '0123456789abcdef' }],
      ['b', { path: 'b', kind: 'file', mode: 0o644, size: 3, mtimeMs: 1_700_000_000_001, digest: 'fedcba9876543210' }],
    ]);
    const counting: Hasher = {
      h64: () => {
        throw new Error('hashed');
      },
      stream: () => {
        throw new Error('hashed');
      },
    };
    const { manifest } = await scanTree(root, { hasher: counting, previous, hashFiles: false });
    expect(manifest.get('a')?.digest).toBe('0123456789abcdef');
    expect(manifest.get('b')).toMatchObject({ size: 3, mtimeMs: 1_700_000_000_000 });
    expect(manifest.get('b')?.digest).toBeUndefined();
  });
});
