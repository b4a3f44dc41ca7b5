// Directories beneath a root held open (dir.ts) while radar works in them, so an operation on `<dir>/<name>` happens
// in the very directory that was checked: a path is resolved component by component, each directory opened with
// O_NOFOLLOW inside the one before it, so a symlink there is refused (or resolved by us, never by the kernel).
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import type { RelPath } from '../sync/types.ts';
import type { Dir } from './dir.ts';

/** Symlinks followed in one resolution before it is refused as a loop (Linux uses 40 too). */
export const MAX_SYMLINKS = 40;

/** Test seam only: runs between pinning a directory and the operation inside it (to swap it, deterministically). */
export interface PinHooks {
  afterPin?(dir: string): void;
  /** The manifest scan (LocalTree.manifest): runs after directory `dir` was listed, before each subdirectory is entered. */
  afterList?(dir: string): void;
  /** The resolver: runs after a container's /proc/<pid>/root was opened, before it is proven to be the container's. */
  afterRootPinned?(pid: number): void;
}

export interface PinsOptions {
  /** 'refuse': an absolute symlink target is an escape. 'in-root': it restarts at the root (RESOLVE_IN_ROOT). */
  readonly absoluteLinks: 'refuse' | 'in-root';
  readonly hooks?: PinHooks | undefined;
}

export interface WalkOptions {
  /** Create missing component `name` inside `parent` (resolved path `dir`); true: open it then. */
  readonly onMissing?: (parent: Dir, name: string, dir: string) => boolean;
  /**
   * Resolve as far as things exist: a missing component, and everything after it or after a file, is returned as
   * given; with followFinal false, the final component is not resolved either (a link there stays a link).
   */
  readonly lenient?: { readonly followFinal: boolean };
}

/** A component's parent directory, pinned: operate on `name` through `dir`, never on a path re-walked later. */
export interface PinnedParent {
  readonly dir: Dir;
  /** The parent's path beneath the root with links resolved ('' for the root): the cache key. */
  readonly path: string;
  readonly name: string;
}

/**
 * Directories deep a walk may go (symlinks resolved); deeper is refused with LIMIT. Each level holds an fd while
 * the walk runs, so this bounds the fds one operation takes.
 */
export const MAX_PATH_DEPTH = 128;

/** A path that is not plain: an empty, '.' or '..' component, or a NUL byte. */
const PLAIN_PATH_NOT = /(?:^|\/)\.{0,2}(?:\/|$)|\0/;

/**
 * Pinned directories beneath one root (not owned: the caller closes it after close()), cached by their resolved
 * path. Bounded by trim(), which callers run between operations, never during one (an operation may hold two
 * parents, e.g. a rename).
 */
export class DirPins {
  readonly root: Dir;
  readonly #opts: PinsOptions;
  readonly #cache = new Map<string, Dir>();
  readonly #max: number;

  constructor(root: Dir, opts: PinsOptions, maxCached = 256) {
    this.root = root;
    this.#opts = opts;
    this.#max = maxCached;
  }

  /** The pinned parent of `rel`'s final component; its earlier components' links resolved per absoluteLinks. */
  parent(rel: RelPath): PinnedParent {
    // The common case, thousands of times per batch: a plain path whose parent is pinned already. The walk below
    // would find the same cached directory a component at a time.
    const slash = rel.lastIndexOf('/');
    if (slash > 0 && !PLAIN_PATH_NOT.test(rel)) {
      const path = rel.slice(0, slash);
      const cached = this.#cache.get(path);
      if (cached !== undefined) {
        this.#opts.hooks?.afterPin?.(path);
        return { dir: cached, path, name: rel.slice(slash + 1) };
      }
    }
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    const name = parts.pop();
    if (name === undefined || name === '..') throw new KxError(ErrorCode.InvalidPath, `path ${JSON.stringify(rel)}: names no entry beneath the root`);
    const path = this.walk(parts.join('/'), rel).join('/');
    const dir = this.#dir(path, rel);
    this.#opts.hooks?.afterPin?.(path);
    return { dir, path, name };
  }

  /**
   * Resolve the directory `rel` (every component followed, links per absoluteLinks, a trailing link too) to its
   * resolved components, pinning each directory on the way. A missing component throws ENOENT's KxError, unless
   * `onMissing` creates it or the walk is `lenient`.
   */
  walk(rel: string, shown: string = rel, opts: WalkOptions = {}): string[] {
    if (rel.includes('\0')) throw new KxError(ErrorCode.InvalidPath, `path ${JSON.stringify(shown)} contains a NUL byte`);
    const pending = rel.split('/').reverse();
    const resolved: string[] = [];
    const { onMissing, lenient } = opts;
    let links = 0;
    let missing = false; // lenient: once a component is missing (or not a directory), nothing beneath it exists
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        if (resolved.length === 0) throw escape(shown, `'..' leads above the root`);
        resolved.pop();
        continue;
      }
      if (lenient && (missing || (!lenient.followFinal && !pending.some((n) => n !== '' && n !== '.')))) {
        resolved.push(name);
        continue;
      }
      const dir = resolved.join('/');
      const key = dir === '' ? name : `${dir}/${name}`;
      if (this.#cache.has(key)) {
        resolved.push(name);
        continue;
      }
      const parent = this.#dir(dir, shown);
      let st;
      try {
        st = parent.lstat(name);
        if (st === undefined && onMissing?.(parent, name, dir)) st = parent.lstat(name);
      } catch (err) {
        throw fromFsError(err, shown);
      }
      if (st === undefined && lenient) {
        missing = true;
        resolved.push(name);
        continue;
      }
      if (st === undefined) throw fromFsError(Object.assign(new Error(`ENOENT: no such file or directory, ${key}`), { code: 'ENOENT' }), shown);
      if (st.isDirectory()) {
        if (resolved.length >= MAX_PATH_DEPTH) {
          throw new KxError(ErrorCode.Limit, `path ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 80)}…` : shown)}: deeper than the ${MAX_PATH_DEPTH} directories radar walks`);
        }
        this.#cache.set(key, parent.openDir(name, shown)); // O_NOFOLLOW: a swap since the lstat is refused
        resolved.push(name);
        continue;
      }
      if (!st.isSymbolicLink() && lenient) {
        missing = true; // a file: what lies "beneath" it does not exist
        resolved.push(name);
        continue;
      }
      if (!st.isSymbolicLink()) throw fromFsError(Object.assign(new Error(`ENOTDIR: not a directory, ${key}`), { code: 'ENOTDIR' }), shown);
      if (++links > MAX_SYMLINKS) throw escape(shown, `more than ${MAX_SYMLINKS} symlinks (a loop?)`);
      let target: string;
      try {
        target = parent.readlink(name);
      } catch (err) {
        throw fromFsError(err, shown);
      }
      if (target.includes('\0')) throw escape(shown, 'a symlink target contains a NUL byte');
      if (target.startsWith('/')) {
        if (this.#opts.absoluteLinks === 'refuse') throw escape(shown, `symlink ${key} -> ${target} is absolute`);
        resolved.length = 0;
      }
      for (const part of target.split('/').reverse()) pending.push(part);
    }
    return resolved;
  }

  /** The pinned directory of an already resolved path ('' is the root). */
  dir(path: string): Dir {
    return this.#dir(path, path);
  }

  /** Forget `path` and everything pinned beneath it (it was removed or replaced). */
  forget(path: string): void {
    for (const [key, dir] of this.#cache) {
      if (key === path || key.startsWith(`${path}/`)) {
        dir.close();
        this.#cache.delete(key);
      }
    }
  }

  /** Close the oldest pins beyond the bound. Run between operations only. */
  trim(): void {
    for (const [key, dir] of this.#cache) {
      if (this.#cache.size <= this.#max) return;
      dir.close();
      this.#cache.delete(key);
    }
  }

  close(): void {
    for (const dir of this.#cache.values()) dir.close();
    this.#cache.clear();
  }

  #dir(path: string, shown: string): Dir {
    if (path === '') return this.root;
    const dir = this.#cache.get(path);
    if (dir !== undefined) return dir;
    // Evicted: pin it again the same way (its components were real directories when resolved).
    this.walk(path, shown);
    return this.#cache.get(path) ?? this.#dir(path, shown);
  }
}

function escape(rel: string, why: string): KxError {
  return new KxError(ErrorCode.PathEscape, `path ${JSON.stringify(rel)} escapes the root: ${why}`);
}
