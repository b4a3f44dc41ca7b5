import { describe, expect, it } from 'vitest';
import { createdFilesToHash, createdSizes, targetFilesToHash } from '../../pkg/sync/candidates.ts';
import { ManifestTable } from '../../pkg/sync/manifest-table.ts';
import type { Entry, Manifest } from '../../pkg/sync/types.ts';

const T = 1_700_000_000_000;
const file = (path: string, size: number, digest?: string): Entry => ({ path, kind: 'file', mode: 0o644, size, mtimeMs: T, ...(digest ? { digest } : {}) });
const dir = (path: string): Entry => ({ path, kind: 'dir', mode: 0o755, size: 0, mtimeMs: T });
const manifest = (...entries: Entry[]): Manifest => new Map(entries.map((e) => [e.path, e]));

describe('rename/copy candidates', () => {
  it('counts the sizes of source files with no file at their path in the target, empty files aside', () => {
    const source = manifest(file('same', 5), file('new', 7), file('empty', 0), file('was-dir', 9));
    const target = manifest(file('same', 6), dir('was-dir'));
    expect(createdSizes(source, target)).toEqual(new Set([7, 9]));
  });

  it('has the target hash only its undigested files of a created size', () => {
    const target = manifest(file('a', 7), file('b', 7, '1111111111111111'), file('c', 8), dir('d'));
    expect(targetFilesToHash(target, new Set([7]))).toEqual(['a']);
    expect(targetFilesToHash(target, new Set())).toEqual([]);
  });

  it('has the source hash only its created, undigested files of a size the target holds with a digest', () => {
    const source = manifest(file('new', 7), file('new2', 8), file('old', 7), file('known', 7, '2222222222222222'));
    const target = manifest(file('old', 7, '1111111111111111'), file('x', 8));
    expect(createdFilesToHash(source, target)).toEqual(['new']);
    expect(createdFilesToHash(source, target, (p) => p !== 'new')).toEqual([]);
  });

  it('answers the same from a compact table, read from its columns: digested files only, deleted rows and odd entries included', () => {
    const source = manifest(file('n7', 7), file('n8', 8), file('n9', 9), file('n10', 10), file('n11', 11), file('n12', 12));
    const target = new ManifestTable(
      manifest(
        file('a', 7, '1111111111111111'),
        file('b', 8), // no digest: no candidate
        dir('c'),
        file('gone', 9, '3333333333333333'),
        // An entry the columns cannot hold (a digest of another shape) is kept as it is, and still counts.
        file('odd', 10, 'not-a-hex-digest'),
        file('odd-undigested', 11, undefined),
        file('wide/é', 12, '4444444444444444'),
      ),
    );
    target.delete('gone');
    expect(createdFilesToHash(source, target)).toEqual(['n7', 'n10', 'n12']);
    expect(createdFilesToHash(source, new Map(target))).toEqual(['n7', 'n10', 'n12']);
    expect(target.digestedFileSizes(new Set([7, 8, 9, 10, 11, 12, 13]))).toEqual(new Set([7, 10, 12]));
    expect(target.digestedFileSizes(new Set())).toEqual(new Set());
  });
});
