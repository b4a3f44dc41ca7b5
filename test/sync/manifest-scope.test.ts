import { describe, expect, it } from 'vitest';
import { ManifestTable } from '../../pkg/sync/manifest-table.ts';
import { keysWithin, replaceScanned, settleScoped } from '../../pkg/sync/manifest-scope.ts';
import type { Entry, RelPath } from '../../pkg/sync/types.ts';

const file = (path: RelPath, size = 1): Entry => ({ path, kind: 'file', mode: 0o644, size, mtimeMs: 1_700_000_000_000 + size });
const dir = (path: RelPath): Entry => ({ path, kind: 'dir', mode: 0o755, size: 0, mtimeMs: 1_700_000_000_000 });

function tree(): Map<RelPath, Entry> {
  const m = new Map<RelPath, Entry>();
  for (const e of [dir('a'), file('a/1'), file('a/2'), dir('a/sub'), file('a/sub/3'), file('b'), file('c'), dir('d'), file('d/4')]) m.set(e.path, e);
  return m;
}

/** What the manifest holds, whatever its order. */
const contents = (m: Map<RelPath, Entry>): [RelPath, Entry][] => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

describe('replaceScanned', () => {
  const scanned = new Map<RelPath, Entry | null>([
    ['a', dir('a')],
    ['a/1', file('a/1', 9)],
    ['a/sub', file('a/sub', 5)], // a directory became a file: what was beneath it goes
    ['a/new', file('a/new', 7)],
    ['b', null],
    ['c', file('c', 3)],
  ]);
  const paths = ['a', 'b', 'c'];

  it('leaves what the scan found at and beneath the paths, nothing else of them, and the rest as it was', () => {
    for (const m of [tree(), ManifestTable.of(tree())]) {
      replaceScanned(m, paths, scanned);
      const expected = tree();
      for (const p of keysWithin(expected, paths)) expected.delete(p);
      for (const [p, e] of scanned) if (e !== null) expected.set(p, e);
      expect(contents(m)).toEqual(contents(expected));
    }
  });

  it('overwrites a path found again where it is (a table keeps its rows and their order)', () => {
    const m = ManifestTable.of(tree());
    replaceScanned(m, paths, scanned);
    expect([...m.keys()]).toEqual(['a', 'a/1', 'a/sub', 'c', 'd', 'd/4', 'a/new']);
  });
});

describe('settleScoped', () => {
  const effective = new Map<RelPath, Entry>([
    ['a', dir('a')],
    ['a/1', file('a/1', 9)],
    ['a/new', file('a/new', 7)],
    ['c', file('c', 3)],
  ]);
  const scopes = new Set(['a', 'b', 'c']);

  it('puts the plan’s result within the scopes and keeps the old entries of failed paths', () => {
    for (const failedPaths of [[], ['a/1'], ['a/new', 'c'], ['a']]) {
      for (const m of [tree(), ManifestTable.of(tree())]) {
        settleScoped(m, effective, scopes, failedPaths.map((path) => ({ path, code: 'IO', message: 'failed' })));
        // The result as removing everything within the scopes, adding the plan's, then restoring failed paths.
        const expected = tree();
        const before = new Map([...expected].filter(([p]) => keysWithin(tree(), scopes, effective).includes(p)));
        for (const p of before.keys()) expected.delete(p);
        for (const p of keysWithin(effective, scopes, before)) expected.set(p, effective.get(p)!);
        const failed = new Set(failedPaths);
        const under = (p: RelPath): boolean => [...failed].some((f) => p === f || p.startsWith(`${f}/`));
        for (const p of [...expected.keys()]) if (under(p) && !before.has(p) && [...scopes].some((s) => p === s || p.startsWith(`${s}/`))) expected.delete(p);
        for (const [p, e] of before) if (under(p)) expected.set(p, e);
        expect(contents(m)).toEqual(contents(expected));
      }
    }
  });

  it('overwrites a path the plan left in place where it is', () => {
    const m = ManifestTable.of(tree());
    settleScoped(m, effective, scopes, []);
    expect([...m.keys()]).toEqual(['a', 'a/1', 'c', 'd', 'd/4', 'a/new']);
  });
});
