// Validation and ordering of RelPaths: the engine's only notion of where something is in a tree.
import { ErrorCode, KxError } from './errors.ts';
import type { RelPath } from './types.ts';

export const TEMP_PREFIX = '.kx-tmp-';
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

/** Return p as a RelPath, or throw INVALID_PATH naming it: '', absolute, '.'/'..'/empty components, NUL, too long. */
export function checkRelPath(p: string): RelPath {
  if (typeof p !== 'string' || p === '') throw invalid(p, 'is empty');
  if (p.includes('\0')) throw invalid(p, 'contains a NUL byte');
  if (p.startsWith('/')) throw invalid(p, 'is absolute');
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) throw invalid(p, `is longer than ${MAX_PATH_BYTES} bytes`);
  for (const name of p.split('/')) {
    if (name === '') throw invalid(p, 'has an empty component');
    if (name === '.' || name === '..') throw invalid(p, `has a '${name}' component`);
    if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw invalid(p, `has a name longer than ${MAX_NAME_BYTES} bytes`);
  }
  return p;
}

/** Radar's temporary files: names starting with TEMP_PREFIX. */
export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** The parent of a RelPath, '' for a top-level path. */
export function parentOf(p: RelPath): RelPath | '' {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** Join a base ('' = root) and a name. */
export function joinRel(base: RelPath | '', name: string): RelPath {
  return base === '' ? name : `${base}/${name}`;
}

/** True when p is one of `bases` or lies beneath one (checked through p's ancestors: cheap for many bases). */
export function isAtOrBeneathAny(p: RelPath, bases: ReadonlySet<RelPath>): boolean {
  for (let q: RelPath | '' = p; q !== ''; q = parentOf(q)) if (bases.has(q)) return true;
  return false;
}

/** True when p equals base or lies beneath it; every path is at or beneath the root ''. */
export function isAtOrBeneath(p: RelPath, base: RelPath | ''): boolean {
  return base === '' || p === base || (p.length > base.length && p.startsWith(base) && p.charCodeAt(base.length) === 47);
}

/** Tree order: a directory sorts right before everything beneath it ('/' ranks below every other character). */
export function comparePaths(a: RelPath, b: RelPath): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x === 47) return -1;
      if (y === 47) return 1;
      return x - y;
    }
  }
  return a.length - b.length;
}

/** A sorted copy in tree order (parents before children). */
export function sortPaths(paths: Iterable<RelPath>): RelPath[] {
  return [...paths].sort(comparePaths);
}

/** Called for every path of every batch: the quoted form is built only here, for an error. */
function invalid(p: unknown, why: string): KxError {
  const text = typeof p === 'string' ? p : String(p);
  const shown = JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
  return new KxError(ErrorCode.InvalidPath, `path ${shown} ${why}`);
}
