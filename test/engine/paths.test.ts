import { describe, expect, it } from 'vitest';
import { checkRelPath, comparePaths, isTempName, sortPaths } from '../../pkg/sync/paths.ts';

describe('checkRelPath', () => {
  it.each([
    ['', 'empty'],
    ['/abs', 'absolute'],
    ['../x', "a '..' component"],
    ['a/../b', "a '..' component inside"],
    ['./a', "a '.' component"],
    ['a/.', "a trailing '.' component"],
    ['a//b', 'an empty component'],
    ['a/', 'a trailing slash'],
    ['a\0b', 'a NUL byte'],
    ['x'.repeat(256), 'a name over 255 bytes'],
    ['é'.repeat(128), 'a name over 255 bytes in UTF-8 though 128 characters'],
    [Array.from({ length: 20 }, () => 'y'.repeat(250)).join('/'), 'a path over 4096 bytes'],
  ])('refuses %j (%s) with INVALID_PATH', (p) => {
    expect(() => checkRelPath(p)).toThrow(expect.objectContaining({ code: 'INVALID_PATH' }));
  });

  it.each(['a', 'a/b/c', '.hidden', 'a/..b', 'x'.repeat(255), 'back\\slash', 'sp ace/ü'])('accepts %j unchanged', (p) => {
    expect(checkRelPath(p)).toBe(p);
  });

  it('names the offending path in its message', () => {
    expect(() => checkRelPath('../etc/passwd')).toThrow(/\.\.\/etc\/passwd/);
  });
});

describe('isTempName', () => {
  it("recognises radar's temp files by prefix only", () => {
    expect(isTempName('.kx-tmp-abc')).toBe(true);
    expect(isTempName('x.kx-tmp-abc')).toBe(false);
  });
});

describe('sortPaths', () => {
  it('puts every directory right before its contents, even when a sibling sorts between them bytewise', () => {
    expect(sortPaths(['a-b', 'a/c', 'a', 'a.txt', 'a/b/c', 'b'])).toEqual(['a', 'a/b/c', 'a/c', 'a-b', 'a.txt', 'b']);
    expect(comparePaths('a', 'a')).toBe(0);
  });
});
