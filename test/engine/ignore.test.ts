import { describe, expect, it } from 'vitest';
import { DEFAULT_PATTERNS, IgnoreMatcher } from '../../pkg/sync/ignore.ts';

describe('IgnoreMatcher', () => {
  it('always ignores .git directories and radar temp files, which no negation brings back', () => {
    const m = new IgnoreMatcher([{ base: '', patterns: ['!.git/', '!.kx-tmp-*'] }]);
    expect(DEFAULT_PATTERNS).toEqual(['.git/', '.kx-tmp-*']);
    expect(m.ignores('.git', true)).toBe(true);
    expect(m.ignores('sub/.git', true)).toBe(true);
    expect(m.ignores('sub/.git/HEAD', false)).toBe(true);
    expect(m.ignores('a/.kx-tmp-1', false)).toBe(true);
    expect(m.ignores('.git', false)).toBe(false); // a .git file (a worktree link) is ordinary content
  });

  it('matches dir-only patterns against directories only', () => {
    const m = new IgnoreMatcher([{ base: '', patterns: ['build/'] }]);
    expect(m.ignores('build', true)).toBe(true);
    expect(m.ignores('build', false)).toBe(false);
    expect(m.ignores('src/build', true)).toBe(true);
  });

  it('applies a set beneath its base only, relative to it', () => {
    const m = new IgnoreMatcher([{ base: 'sub', patterns: ['/only.txt'] }]);
    expect(m.ignores('sub/only.txt', false)).toBe(true);
    expect(m.ignores('only.txt', false)).toBe(false);
    expect(m.ignores('sub/deeper/only.txt', false)).toBe(false);
    expect(m.ignores('subway/only.txt', false)).toBe(false);
  });

  it('lets a later set re-include what an earlier one ignored', () => {
    const m = new IgnoreMatcher([
      { base: '', patterns: ['*.log'] },
      { base: 'keep', patterns: ['!*.log'] },
    ]);
    expect(m.ignores('x.log', false)).toBe(true);
    expect(m.ignores('keep/x.log', false)).toBe(false);
  });

  it('cannot re-include a file whose parent directory is ignored, as in git', () => {
    const m = new IgnoreMatcher([
      { base: '', patterns: ['out/'] },
      { base: 'out', patterns: ['!keep.txt'] },
    ]);
    expect(m.ignores('out/keep.txt', false)).toBe(true);
  });

  it('is case-sensitive like git on Linux', () => {
    const m = new IgnoreMatcher([{ base: '', patterns: ['*.LOG'] }]);
    expect(m.ignores('a.log', false)).toBe(false);
    expect(m.ignores('a.LOG', false)).toBe(true);
  });

  it('returns its rule sets as plain serializable data', () => {
    const sets = [{ base: 'a', patterns: ['x', '!y'] }];
    const out = new IgnoreMatcher(sets).ruleSets();
    expect(JSON.parse(JSON.stringify(out))).toEqual(sets);
  });
});
