import { describe, expect, it } from 'vitest';
import { diff } from '../../pkg/sync/diff.ts';
import { ManifestTable } from '../../pkg/sync/manifest-table.ts';
import type { Entry, Manifest, Op } from '../../pkg/sync/types.ts';

const T = 1_700_000_000_000;

function file(path: string, digest: string, extra: Partial<Entry> = {}): Entry {
  return { path, kind: 'file', mode: 0o644, size: 10, mtimeMs: T, digest, ...extra };
}
function dir(path: string, extra: Partial<Entry> = {}): Entry {
  return { path, kind: 'dir', mode: 0o755, size: 0, mtimeMs: T, ...extra };
}
function link(path: string, target: string): Entry {
  return { path, kind: 'symlink', mode: 0o777, size: 0, mtimeMs: T, target };
}
function manifest(...entries: Entry[]): Manifest {
  return new Map(entries.map((e) => [e.path, e]));
}
const summary = (ops: Op[]) => ops.map((o) => `${o.op} ${'from' in o ? `${o.from}→` : ''}${o.path}`);

describe('diff', () => {
  it('plans nothing for equal trees', () => {
    const m = manifest(dir('a'), file('a/f', 'd1'), link('l', 'a/f'));
    expect(diff(m, m)).toEqual([]);
  });

  it('ignores directory mtimes', () => {
    expect(diff(manifest(dir('a', { mtimeMs: T + 5 })), manifest(dir('a')))).toEqual([]);
  });

  it('creates directories parents first, including empty ones, with their modes', () => {
    const ops = diff(manifest(dir('a/b/c'), dir('a'), dir('a/b', { mode: 0o700 }), dir('z')), manifest());
    expect(ops).toEqual([
      { op: 'mkdir', path: 'a', mode: 0o755 },
      { op: 'mkdir', path: 'a/b', mode: 0o700 },
      { op: 'mkdir', path: 'a/b/c', mode: 0o755 },
      { op: 'mkdir', path: 'z', mode: 0o755 },
    ]);
  });

  it('writes a new file whole and a changed file by delta, carrying size, mode, mtime and digest', () => {
    const ops = diff(manifest(file('new', 'd1', { size: 3 }), file('changed', 'd2', { mode: 0o755 })), manifest(file('changed', 'old')));
    expect(ops).toEqual([
      { op: 'write', path: 'changed', mode: 0o755, mtimeMs: T, size: 10, digest: 'd2', basis: 'delta' },
      { op: 'write', path: 'new', mode: 0o644, mtimeMs: T, size: 3, digest: 'd1', basis: 'whole' },
    ]);
  });

  it('changes only the mode when only the mode differs', () => {
    expect(diff(manifest(file('f', 'd', { mode: 0o600 })), manifest(file('f', 'd')))).toEqual([{ op: 'meta', path: 'f', mode: 0o600 }]);
    expect(diff(manifest(dir('d', { mode: 0o700 })), manifest(dir('d')))).toEqual([{ op: 'meta', path: 'd', mode: 0o700 }]);
  });

  it('sets only the mtime (with the mode) when the content is equal but the mtime differs', () => {
    expect(diff(manifest(file('f', 'd', { mtimeMs: T + 1 })), manifest(file('f', 'd')))).toEqual([
      { op: 'meta', path: 'f', mode: 0o644, mtimeMs: T + 1 },
    ]);
  });

  it('creates and retargets symlinks', () => {
    const ops = diff(manifest(link('new', 'x'), link('moved', 'y2'), link('same', 'z')), manifest(link('moved', 'y1'), link('same', 'z')));
    expect(ops).toEqual([
      { op: 'symlink', path: 'moved', target: 'y2' },
      { op: 'symlink', path: 'new', target: 'x' },
    ]);
  });

  it('removes what is gone, children before parents', () => {
    const ops = diff(manifest(), manifest(dir('a'), dir('a/b'), file('a/b/f', 'd'), file('a/g', 'e'), link('l', 'x')));
    expect(summary(ops)).toEqual(['remove l', 'remove a/g', 'remove a/b/f', 'remove a/b', 'remove a']);
  });

  it('detects a rename by digest and moves instead of resending', () => {
    const ops = diff(manifest(dir('new'), file('new/f', 'D', { mode: 0o600 })), manifest(dir('old'), file('old/f', 'D')));
    expect(ops).toEqual([
      { op: 'mkdir', path: 'new', mode: 0o755 },
      { op: 'move', from: 'old/f', path: 'new/f', mode: 0o600, mtimeMs: T, digest: 'D' },
      { op: 'remove', path: 'old' },
    ]);
  });

  it('copies content that is still present elsewhere instead of resending it', () => {
    const ops = diff(manifest(file('a', 'D'), file('b', 'D')), manifest(file('a', 'D')));
    expect(ops).toEqual([{ op: 'copy', from: 'a', path: 'b', mode: 0o644, mtimeMs: T, digest: 'D' }]);
  });

  it('moves a gone file once and copies for further duplicates, copies ordered before moves', () => {
    const ops = diff(manifest(file('x', 'D'), file('y', 'D')), manifest(file('old', 'D')));
    expect(summary(ops)).toEqual(['copy old→y', 'move old→x']);
  });

  it('finds moved and copied content in a compact table as in a Map: hex digests in its column, others kept as they are', () => {
    const [h1, h2, h3] = ['00000000000000a1', '00000000000000a2', '10000000000000a1'];
    const source = manifest(dir('new'), file('new/f', h1), file('new/g', h2), file('new/h', 'D'), file('new/e', h3, { size: 0 }), file('new/k', h3));
    const target = manifest(dir('old'), file('old/f', h1), file('old/g', h2), file('keep', h2), file('old/h', 'D'), file('old/e', h3, { size: 0 }), file('other', '00000000000000a3'));
    const table = new ManifestTable(target);
    table.set('gone', file('gone', h1));
    table.delete('gone');
    const ops = diff(source, table);
    expect(ops).toEqual(diff(source, target));
    expect(summary(ops)).toEqual(['mkdir new', 'move old/f→new/f', 'move keep→new/g', 'move old/h→new/h', 'write new/e', 'write new/k', 'remove other', 'remove old/g', 'remove old/e', 'remove old']);
    expect(table.filesWithDigests(new Set([h1, 'D', 'ffffffffffffffff'])).map(([p]) => p)).toEqual(['old/f', 'old/h']);
  });

  it('sends empty files whole rather than pairing them by their shared digest', () => {
    const ops = diff(manifest(file('b', 'E', { size: 0 })), manifest(file('a', 'E', { size: 0 })));
    expect(summary(ops)).toEqual(['write b', 'remove a']);
  });

  it('clears a kind change first: directory to file', () => {
    const ops = diff(manifest(file('a', 'D')), manifest(dir('a'), file('a/x', 'X')));
    expect(ops).toEqual([
      { op: 'remove', path: 'a' },
      { op: 'write', path: 'a', mode: 0o644, mtimeMs: T, size: 10, digest: 'D', basis: 'whole' },
    ]);
  });

  it('clears a kind change first: file to directory, and symlink to file', () => {
    const ops = diff(manifest(dir('a'), file('a/x', 'X'), file('l', 'L')), manifest(file('a', 'A'), link('l', 'a')));
    expect(summary(ops)).toEqual(['remove a', 'remove l', 'mkdir a', 'write a/x', 'write l']);
    expect(ops.find((o) => o.op === 'write' && o.path === 'l')).toMatchObject({ basis: 'whole' });
  });

  it('clears a kind change first: file to symlink', () => {
    expect(summary(diff(manifest(link('f', 't')), manifest(file('f', 'D'))))).toEqual(['remove f', 'symlink f']);
  });

  it('never moves or copies from a path a kind change removes', () => {
    const ops = diff(manifest(file('a', 'Z'), file('b', 'X')), manifest(dir('a'), file('a/x', 'X')));
    expect(summary(ops)).toEqual(['remove a', 'write a', 'write b']);
  });

  it('orders a mixed plan: kind removes, mkdir, copy, move, write, symlink, meta, remove', () => {
    const source = manifest(
      file('k', 'K'),
      dir('n'),
      file('n/moved', 'M'),
      file('n/copied', 'C'),
      file('c', 'C'),
      file('w', 'W2'),
      link('s', 't'),
      file('m', 'MM', { mode: 0o600 }),
    );
    const target = manifest(dir('k'), file('old', 'M'), file('c', 'C'), file('w', 'W1'), file('m', 'MM'), file('gone', 'G'));
    expect(summary(diff(source, target))).toEqual([
      'remove k',
      'mkdir n',
      'copy c→n/copied',
      'move old→n/moved',
      'write k',
      'write w',
      'symlink s',
      'meta m',
      'remove gone',
    ]);
  });

  it('is deterministic whatever the insertion order of the manifests', () => {
    const entries = [dir('a'), file('a/1', 'x'), file('b', 'y'), dir('c'), link('c/l', 'q'), file('d', 'x')];
    const target = manifest(file('z', 'y'), dir('q'));
    const one = diff(manifest(...entries), target);
    const two = diff(manifest(...[...entries].reverse()), new Map([...target].reverse()));
    expect(two).toEqual(one);
  });

  describe('limited to paths', () => {
    const source = manifest(dir('a'), dir('a/b'), file('a/b/f', 'F'), file('a/g', 'G2'), file('x', 'X2'));
    const target = manifest(file('a/g', 'G1'), file('x', 'X1'), file('a/b/stale', 'S'));

    it('plans only at and beneath the given paths, creating their missing ancestors', () => {
      expect(summary(diff(source, target, { paths: ['a/b'] }))).toEqual(['mkdir a', 'mkdir a/b', 'write a/b/f', 'remove a/b/stale']);
    });

    it('plans nothing outside them', () => {
      expect(summary(diff(source, target, { paths: ['x'] }))).toEqual(['write x']);
    });

    it('removes a given path that is gone from the source', () => {
      expect(summary(diff(manifest(), manifest(dir('d'), file('d/f', 'F'), file('e', 'E')), { paths: ['d'] }))).toEqual(['remove d/f', 'remove d']);
    });

    it('copies from a target file outside the paths but moves only from within them', () => {
      const ops = diff(manifest(file('keep', 'K'), file('new', 'K'), file('n2', 'M')), manifest(file('keep', 'K'), file('old', 'M')), {
        paths: ['new', 'n2', 'old'],
      });
      expect(summary(ops)).toEqual(['copy keep→new', 'move old→n2']);
      const outside = diff(manifest(file('n2', 'M')), manifest(file('old', 'M')), { paths: ['n2'] });
      expect(summary(outside)).toEqual(['copy old→n2']);
    });
  });
});

describe('quick check (files without digests)', () => {
  const bare = (path: string, extra: Partial<Entry> = {}): Entry => ({ path, kind: 'file', mode: 0o644, size: 10, mtimeMs: T, ...extra });

  it('takes files of equal size and mtime as equal when a digest is missing', () => {
    expect(diff(manifest(bare('a')), manifest(file('a', 'x')))).toEqual([]);
    expect(diff(manifest(file('a', 'x')), manifest(bare('a')))).toEqual([]);
  });

  it('still lets two known digests decide: differing digests mean a write despite equal size and mtime', () => {
    expect(summary(diff(manifest(file('a', 'x')), manifest(file('a', 'y'))))).toEqual(['write a']);
  });

  it('writes a file whose mtime differs, as a delta, with digest "" when the source has none', () => {
    expect(diff(manifest(bare('a', { mtimeMs: T + 1 })), manifest(bare('a')))).toEqual([
      { op: 'write', path: 'a', mode: 0o644, mtimeMs: T + 1, size: 10, digest: '', basis: 'delta' },
    ]);
  });

  it('detects no rename without digests: the new file is written whole and the old removed', () => {
    expect(summary(diff(manifest(bare('b')), manifest(bare('a'))))).toEqual(['write b', 'remove a']);
  });
});
