import { describe, expect, it } from 'vitest';
import { findOverlap, selectorsOverlap, specsOverlap } from '../../pkg/config/overlap.ts';
import { remotePathProblem } from '../../pkg/config/remote-path.ts';
import { parseSelector } from '../../pkg/config/selector.ts';
import type { SpecConfig } from '../../pkg/config/types.ts';

const spec = (over: Partial<SpecConfig>): SpecConfig => ({ name: 'a', selector: 'app=api', local: '/src', remote: '/app', reload: 'none', ignore: [], target: 'kubernetes', ...over });

describe('selectorsOverlap', () => {
  it.each([
    ['app=api', 'app=web', false],
    ['app=api', 'tier=web', true],
    ['app=api', 'app in (api, web)', true],
    ['app in (a, b)', 'app notin (a, b)', false],
    ['app in (a, b)', 'app notin (a)', true],
    ['app', '!app', false],
    ['app=api', '!app', false],
    ['app!=api', 'app=web', true],
  ])('%s and %s: %s', (a, b, overlap) => {
    expect(selectorsOverlap(parseSelector(a), parseSelector(b))).toBe(overlap);
  });
});

describe('specsOverlap', () => {
  it('needs the same target kind, namespace, context and container, and nested remote paths', () => {
    expect(specsOverlap(spec({}), spec({ name: 'b', remote: '/app/lib' }))).toBe(true);
    expect(specsOverlap(spec({}), spec({ name: 'b', remote: '/application' }))).toBe(false);
    expect(specsOverlap(spec({}), spec({ name: 'b', target: 'docker' }))).toBe(false);
    expect(specsOverlap(spec({ namespace: 'x' }), spec({ name: 'b', namespace: 'y' }))).toBe(false);
    expect(specsOverlap(spec({ namespace: 'x' }), spec({ name: 'b' }), { namespace: 'x' })).toBe(true);
    expect(specsOverlap(spec({ container: 'app' }), spec({ name: 'b', container: 'sidecar' }))).toBe(false);
    expect(specsOverlap(spec({ container: 'app' }), spec({ name: 'b' }))).toBe(true);
    expect(specsOverlap(spec({ selector: undefined, pod: 'p' }), spec({ name: 'b', selector: undefined, pod: 'p' }))).toBe(true);
    expect(specsOverlap(spec({ selector: undefined, pod: 'p' }), spec({ name: 'b', selector: undefined, pod: 'q' }))).toBe(false);
  });

  it('finds the first overlapping pair in order', () => {
    const specs = [spec({ name: 'a' }), spec({ name: 'b', remote: '/srv' }), spec({ name: 'c', remote: '/srv/x' })];
    expect(findOverlap(specs)?.map((s) => s.name)).toEqual(['b', 'c']);
  });
});

describe('remotePathProblem', () => {
  it('allows ordinary paths, and system directories only with force', () => {
    expect(remotePathProblem('/app', false)).toBeNull();
    expect(remotePathProblem('/srv/www', false)).toBeNull();
    expect(remotePathProblem('/usrlocal', false)).toBeNull();
    expect(remotePathProblem('/usr/local/app', false)).toMatch(/system directory \/usr/);
    expect(remotePathProblem('/usr/local/app', true)).toBeNull();
    expect(remotePathProblem('/', true)).toBeNull();
    expect(remotePathProblem('/a/../b', true)).toMatch(/'\.' or '\.\.'/);
  });
});
