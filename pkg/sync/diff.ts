// Plan the ops that make a receiver's tree (target) equal the sender's (source), in an order the receiver can apply
// one by one: clear kind changes, create directories, reuse content already there (move/copy), send content,
// link, fix metadata, and finally remove what is gone.
import { keysWithin } from './manifest-scope.ts';
import { ManifestTable } from './manifest-table.ts';
import { comparePaths, isAtOrBeneath, parentOf } from './paths.ts';
import type { Entry, Manifest, Op, RelPath } from './types.ts';

export { WHOLE_FILE_BELOW } from './threshold.ts';

export interface DiffOptions {
  /** Limit the plan to these paths and what is beneath them (plus creating their missing ancestor directories). */
  paths?: readonly RelPath[];
}

/**
 * Files are equal when their digests are (both known), else when size and mtime are (quick check).
 * Ordered plan: removes that clear a kind change, mkdir (parents first), copy then move (content found by digest in
 * the target: from a path that is gone → move, else copy), write ('delta' when the target has a file there, else
 * 'whole'; blockSize left to the sender; digest '' when the source's is unknown: the sender sends it at the end), symlink, meta (mode, and mtimeMs when it differs), remove (children first).
 * Directory mtimes are not synced; equal entries produce no op.
 */
export function diff(source: Manifest, target: Manifest, opts: DiffOptions = {}): Op[] {
  const scope = opts.paths === undefined ? null : new Scope(opts.paths);
  const inScope = (p: RelPath): boolean => scope === null || scope.covers(p);

  const kindRemoves: RelPath[] = [];
  const mkdirs: Op[] = [];
  const newFiles: Entry[] = [];
  const writes: Op[] = [];
  const symlinks: Op[] = [];
  const metas: Op[] = [];

  // A limited plan looks at the scoped paths only (and their ancestors): a save costs what it touched.
  for (const path of scope === null ? sortedKeys(source) : scope.sortedKeys(source, target, true)) {
    const s = source.get(path)!;
    let t = target.get(path);
    if (!inScope(path)) {
      // An ancestor of a scoped path: only make sure it exists as a directory.
      if (scope === null || !scope.isAncestor(path) || s.kind !== 'dir' || t?.kind === 'dir') continue;
    }
    if (t !== undefined && t.kind !== s.kind) {
      kindRemoves.push(path);
      t = undefined;
    }
    switch (s.kind) {
      case 'dir':
        if (t === undefined) mkdirs.push({ op: 'mkdir', path, mode: s.mode });
        else if (t.mode !== s.mode) metas.push({ op: 'meta', path, mode: s.mode });
        break;
      case 'symlink':
        if (t === undefined || t.target !== s.target) symlinks.push({ op: 'symlink', path, target: s.target ?? '' });
        break;
      case 'file':
        if (t === undefined) newFiles.push(s);
        else if (sameContent(s, t)) {
          if (s.mode !== t.mode || s.mtimeMs !== t.mtimeMs) {
            metas.push(s.mtimeMs === t.mtimeMs ? { op: 'meta', path, mode: s.mode } : { op: 'meta', path, mode: s.mode, mtimeMs: s.mtimeMs });
          }
        } else writes.push(writeOp(s, 'delta'));
        break;
    }
  }

  // Target paths that are gone, except those a kind-change remove takes with it.
  const cleared = (p: RelPath): boolean => kindRemoves.some((k) => isAtOrBeneath(p, k));
  const gone = new Set<RelPath>();
  for (const path of scope === null ? sortedKeys(target) : scope.sortedKeys(target, source, false)) {
    if (!source.has(path) && inScope(path) && !cleared(path)) gone.add(path);
  }

  // Reuse content the receiver already holds. Copies run before moves, so a copy may read a path moved later.
  const byDigest = holdersOf(newFiles, target, cleared);
  const copies: Op[] = [];
  const moves: Op[] = [];
  for (const s of newFiles) {
    const candidates = s.digest === undefined || s.size === 0 ? undefined : byDigest.get(s.digest);
    if (candidates === undefined) {
      writes.push(writeOp(s, 'whole'));
      continue;
    }
    const movable = candidates.find((c) => gone.has(c));
    const reuse = { path: s.path, mode: s.mode, mtimeMs: s.mtimeMs, digest: s.digest! };
    if (movable !== undefined) {
      gone.delete(movable); // moved away, so neither removed nor moved twice
      moves.push({ op: 'move', from: movable, ...reuse });
    } else {
      copies.push({ op: 'copy', from: candidates[0], ...reuse });
    }
  }
  writes.sort(byPath);

  const removes: Op[] = [...gone].reverse().map((path) => ({ op: 'remove', path }));
  return [
    ...kindRemoves.map((path): Op => ({ op: 'remove', path })),
    ...mkdirs,
    ...copies,
    ...moves,
    ...writes,
    ...symlinks,
    ...metas,
    ...removes,
  ];
}

// ---- internals ----

/**
 * Both digests known: they decide. Otherwise rsync's quick check: equal size and mtime mean equal content (a file
 * rewritten with its size and mtime restored is not noticed, as with rsync).
 */
export function sameContent(s: Entry, t: Entry): boolean {
  if (s.size !== t.size) return false;
  if (s.digest !== undefined && t.digest !== undefined) return s.digest === t.digest;
  return s.mtimeMs === t.mtimeMs;
}

function writeOp(s: Entry, basis: 'whole' | 'delta'): Op {
  return { op: 'write', path: s.path, mode: s.mode, mtimeMs: s.mtimeMs, size: s.size, digest: s.digest ?? '', basis };
}

function sortedKeys(m: Manifest): RelPath[] {
  return [...m.keys()].sort(comparePaths);
}

/** The target's files (in path order) by digest, for the digests of the created files only; none known: no walk. */
function holdersOf(created: readonly Entry[], target: Manifest, cleared: (p: RelPath) => boolean): Map<string, RelPath[]> {
  const byDigest = new Map<string, RelPath[]>();
  const wanted = new Set<string>();
  for (const s of created) if (s.digest !== undefined && s.size > 0) wanted.add(s.digest);
  if (wanted.size === 0) return byDigest;
  // A compact table finds them in its digest column, without an entry for each of its rows.
  for (const [path, t] of target instanceof ManifestTable ? target.filesWithDigests(wanted) : target) {
    if (t.kind !== 'file' || t.digest === undefined || t.size === 0 || !wanted.has(t.digest) || cleared(path)) continue;
    const list = byDigest.get(t.digest);
    if (list === undefined) byDigest.set(t.digest, [path]);
    else list.push(path);
  }
  for (const list of byDigest.values()) list.sort(comparePaths);
  return byDigest;
}

function byPath(a: Op, b: Op): number {
  return comparePaths(a.path, b.path);
}

/** The paths a limited plan covers: at or beneath a given path; their strict ancestors are tracked separately. */
class Scope {
  readonly #roots: ReadonlySet<RelPath>;
  readonly #ancestors: ReadonlySet<RelPath>;

  constructor(paths: readonly RelPath[]) {
    this.#roots = new Set(paths);
    const ancestors = new Set<RelPath>();
    for (const p of paths) for (let a = parentOf(p); a !== ''; a = parentOf(a)) ancestors.add(a);
    this.#ancestors = ancestors;
  }

  covers(p: RelPath): boolean {
    for (let q: RelPath | '' = p; q !== ''; q = parentOf(q)) if (this.#roots.has(q)) return true;
    return false;
  }

  isAncestor(p: RelPath): boolean {
    return this.#ancestors.has(p);
  }

  /** The manifest's paths this plan covers, with (for the source) the scopes' ancestors it holds, in path order. */
  sortedKeys(m: Manifest, other: Manifest, withAncestors: boolean): RelPath[] {
    const keys = new Set(keysWithin(m, this.#roots, other));
    if (withAncestors) for (const a of this.#ancestors) if (m.has(a)) keys.add(a);
    return [...keys].sort(comparePaths);
  }
}
