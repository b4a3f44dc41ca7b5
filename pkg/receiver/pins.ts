// Directories beneath a root held open while radar works in them, so an operation on `<dir>/<name>` happens in
// the very directory that was checked. Node has no openat/mkdirat/renameat; `/proc/self/fd/<fd>/<name>` is their
// equivalent on Linux: the kernel resolves /proc/self/fd/<fd> to the inode the fd holds, so a hostile process that
// swaps a checked directory for a symlink afterwards cannot redirect the operation, and each next component is
// opened with O_NOFOLLOW|O_DIRECTORY, so a symlink there is refused (or resolved by us, never by the kernel).
import { closeSync, constants as C, fstatSync, lstatSync, openSync, readlinkSync } from 'node:fs';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import type { RelPath } from '../sync/types.ts';
import { MAX_SYMLINKS } from './confine.ts';

/** Test seam only: runs between pinning a directory and the operation inside it (to swap it, deterministically). */
export interface PinHooks {
  afterPin?(dir: string): void;
  /** The manifest scan (ScanOptions.afterList): runs after directory `dir` was listed, before its children. */
  afterList?(dir: string): void;
  /** The resolver: runs after a container's /proc/<pid>/root was opened, before it is proven to be the container's. */
  afterRootPinned?(pid: number): void;
}

export interface PinsOptions {
  /** 'refuse': an absolute symlink target is an escape. 'in-root': it restarts at the root (RESOLVE_IN_ROOT). */
  readonly absoluteLinks: 'refuse' | 'in-root';
  readonly hooks?: PinHooks | undefined;
}

/** A component's parent directory, pinned: operate on `at` (or through `dirFd`), never on a path re-walked later. */
export interface PinnedParent {
  readonly dirFd: number;
  /** The parent's path beneath the root with links resolved ('' for the root): the cache key. */
  readonly dir: string;
  readonly name: string;
  /** `/proc/self/fd/<dirFd>/<name>`. */
  readonly at: string;
}

/**
 * Directories deep a walk may go (symlinks resolved); deeper is refused with LIMIT. Each level holds an fd while
 * the walk runs, so this bounds the fds one operation takes.
 */
export const MAX_PATH_DEPTH = 128;

/** O_PATH (Linux): a handle for walking and /proc/self/fd lookups that needs no read permission on the directory. */
export const O_PATH = 0o10000000;

/** `/proc/self/fd/<fd>` or, with a name, that name inside the directory the fd holds. */
export function fdPath(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/**
 * The part of a root path that is trusted to be followed: a /proc/<pid>/root prefix (the kernel's link to a
 * container's root, whose own content is untrusted), a /proc/self/fd/<fd> prefix (that root pinned by radar), or — for any other root — the whole path, which the user
 * chose. What follows the anchor is walked with O_NOFOLLOW: radar resolved it already, so a symlink there now is
 * a swap.
 */
export function anchorOf(root: string): string {
  const m = /^(.*?\/proc\/(?:\d+\/root|self\/fd\/\d+))(?=\/|$)/.exec(root);
  return m ? m[1] : root;
}

/** Open `root` as a directory: its anchor followed, every component after it opened with O_NOFOLLOW. */
export function openRoot(root: string, anchor: string = anchorOf(root)): number {
  if (!(root === anchor || root.startsWith(`${anchor}/`))) {
    throw new KxError(ErrorCode.InvalidArgument, `root ${root}: does not lie beneath its anchor ${anchor}`);
  }
  let fd: number;
  try {
    fd = openSync(anchor, O_PATH | C.O_DIRECTORY);
  } catch (err) {
    throw fromFsError(err, root);
  }
  for (const name of root.slice(anchor.length).split('/')) {
    if (name === '' || name === '.') continue;
    try {
      const next = openDir(fd, name, root);
      closeSync(fd);
      fd = next;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }
  return fd;
}

/**
 * Pinned directories beneath one root fd (not owned: the caller closes it after close()), cached by their
 * resolved path. Bounded by trim(), which callers run between operations, never during one (an operation may hold
 * two parents, e.g. a rename).
 */
export class DirPins {
  readonly rootFd: number;
  readonly #opts: PinsOptions;
  readonly #cache = new Map<string, number>();
  readonly #max: number;

  constructor(rootFd: number, opts: PinsOptions, maxCached = 256) {
    this.rootFd = rootFd;
    this.#opts = opts;
    this.#max = maxCached;
  }

  /** The pinned parent of `rel`'s final component; its earlier components' links resolved per absoluteLinks. */
  parent(rel: RelPath): PinnedParent {
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    const name = parts.pop();
    if (name === undefined || name === '..') throw new KxError(ErrorCode.InvalidPath, `path ${JSON.stringify(rel)}: names no entry beneath the root`);
    const dir = this.walk(parts.join('/'), rel).join('/');
    const dirFd = this.#dirFd(dir, rel);
    this.#opts.hooks?.afterPin?.(dir);
    return { dirFd, dir, name, at: fdPath(dirFd, name) };
  }

  /**
   * Resolve the directory `rel` (every component followed, links per absoluteLinks, a trailing link too) to its
   * resolved components, pinning each directory on the way. `onMissing(parentFd, name, resolved)` may create a
   * missing component (return true to open it then); otherwise a missing component throws ENOENT's KxError.
   */
  walk(rel: string, shown: string = rel, onMissing?: (parentFd: number, name: string, dir: string) => boolean): string[] {
    if (rel.includes('\0')) throw new KxError(ErrorCode.InvalidPath, `path ${JSON.stringify(shown)} contains a NUL byte`);
    const pending = rel.split('/').reverse();
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        if (resolved.length === 0) throw escape(shown, `'..' leads above the root`);
        resolved.pop();
        continue;
      }
      const dir = resolved.join('/');
      const key = dir === '' ? name : `${dir}/${name}`;
      if (this.#cache.has(key)) {
        resolved.push(name);
        continue;
      }
      const parentFd = this.#dirFd(dir, shown);
      const at = fdPath(parentFd, name);
      let st;
      try {
        st = lstatSync(at, { throwIfNoEntry: false });
      } catch (err) {
        throw fromFsError(err, shown);
      }
      if (st === undefined && onMissing?.(parentFd, name, dir)) st = lstatSync(at);
      if (st === undefined) throw fromFsError(Object.assign(new Error(`ENOENT: no such file or directory, ${key}`), { code: 'ENOENT' }), shown);
      if (st.isDirectory()) {
        if (resolved.length >= MAX_PATH_DEPTH) {
          throw new KxError(ErrorCode.Limit, `path ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 80)}…` : shown)}: deeper than the ${MAX_PATH_DEPTH} directories radar walks`);
        }
        this.#cache.set(key, openDir(parentFd, name, shown)); // O_NOFOLLOW: a swap since the lstat is refused
        resolved.push(name);
        continue;
      }
      if (!st.isSymbolicLink()) throw fromFsError(Object.assign(new Error(`ENOTDIR: not a directory, ${key}`), { code: 'ENOTDIR' }), shown);
      if (++links > MAX_SYMLINKS) throw escape(shown, `more than ${MAX_SYMLINKS} symlinks (a loop?)`);
      let target: string;
      try {
        target = readlinkSync(at);
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

  /** The pinned fd of an already resolved directory ('' is the root). */
  dirFd(dir: string): number {
    return this.#dirFd(dir, dir);
  }

  /** Forget `path` and everything pinned beneath it (it was removed or replaced). */
  forget(path: string): void {
    for (const [key, fd] of this.#cache) {
      if (key === path || key.startsWith(`${path}/`)) {
        closeSync(fd);
        this.#cache.delete(key);
      }
    }
  }

  /** Close the oldest pins beyond the bound. Run between operations only. */
  trim(): void {
    for (const [key, fd] of this.#cache) {
      if (this.#cache.size <= this.#max) return;
      closeSync(fd);
      this.#cache.delete(key);
    }
  }

  close(): void {
    for (const fd of this.#cache.values()) closeSync(fd);
    this.#cache.clear();
  }

  #dirFd(dir: string, shown: string): number {
    if (dir === '') return this.rootFd;
    const fd = this.#cache.get(dir);
    if (fd !== undefined) return fd;
    // Evicted: pin it again the same way (its components were real directories when resolved).
    this.walk(dir, shown);
    return this.#cache.get(dir) ?? this.#dirFd(dir, shown);
  }
}

/** Open directory `name` inside the pinned `parentFd`, refusing a symlink or non-directory there. */
export function openDir(parentFd: number, name: string, shown: string): number {
  let fd: number;
  try {
    fd = openSync(fdPath(parentFd, name), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      if (lstatSync(fdPath(parentFd, name), { throwIfNoEntry: false })?.isSymbolicLink()) {
        throw new KxError(ErrorCode.PathEscape, `path ${JSON.stringify(shown)}: ${name} is a symlink; refuses to follow it`);
      }
    }
    throw fromFsError(err, shown);
  }
  // O_PATH|O_NOFOLLOW would hold a symlink itself rather than fail: make sure it is a directory.
  if (!fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new KxError(ErrorCode.PathEscape, `path ${JSON.stringify(shown)}: ${name} is not a directory; refuses to follow it`);
  }
  return fd;
}

function escape(rel: string, why: string): KxError {
  return new KxError(ErrorCode.PathEscape, `path ${JSON.stringify(rel)} escapes the root: ${why}`);
}
