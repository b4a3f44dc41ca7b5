import { describe, expect, it } from 'vitest';
import { createdFilesToHash, createdSizes, targetFilesToHash } from '../../pkg/sync/candidates.ts';
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
});
