// Resolving a client's path beneath a root without ever leaving it. The root may be a /proc/<pid>/root/...
// magic link into a container, where the kernel would resolve an absolute symlink against the NODE's '/', so
// paths are walked component by component with lstat/readlink and never handed to realpath or a following open.
// The path it returns is only as good as the moment it was checked: anything that writes walks with pins.ts
// instead, which holds each checked directory open so a later swap cannot redirect the write.
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import type { RelPath } from '../sync/types.ts';

export interface ResolveOptions {
  /**
   * 'refuse': an absolute symlink target is an escape. 'in-root': it restarts at root (like openat2's
   * RESOLVE_IN_ROOT), for resolving a path inside a container's root as the container itself would.
   */
  absoluteLinks: 'refuse' | 'in-root';
  /** Follow a symlink in the final component too. Writers pass false: they replace or refuse the link itself. */
  followFinal: boolean;
}

/** Symlinks followed in one resolution before it is refused as a loop (Linux uses 40 too). */
export const MAX_SYMLINKS = 40;

/**
 * The host path of `rel` beneath `root`: every component before the last is a real directory (or does not exist
 * yet) inside root, reached without following a symlink out of it. Throws PATH_ESCAPE for '..' above root, an
 * absolute link target under 'refuse', or a symlink loop; INVALID_PATH for a NUL byte. Leading '/' and empty
 * components in `rel` are ignored, so a container's absolute remote path can be resolved with 'in-root'.
 */
export async function resolveBeneath(root: string, rel: RelPath, opts: ResolveOptions): Promise<string> {
  return resolveBeneathSync(root, rel, opts);
}

/**
 * resolveBeneath with synchronous calls: a few lstats of microseconds each, where the promise API would cost a
 * thread-pool round trip per component for every file of a batch (the receiver's hottest path).
 */
export function resolveBeneathSync(root: string, rel: RelPath, opts: ResolveOptions): string {
  if (rel.includes('\0')) throw new KxError(ErrorCode.InvalidPath, `path ${JSON.stringify(rel)} contains a NUL byte`);
  const pending = rel.split('/').reverse(); // a stack: next component on top
  const resolved: string[] = [];
  let links = 0;
  let missing = false; // once a component is missing, nothing beneath it exists: no more lstat
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (resolved.length === 0) throw escape(rel, `'..' leads above the root`);
      resolved.pop();
      continue;
    }
    const isFinal = !pending.some((n) => n !== '' && n !== '.');
    const here = join(root, ...resolved, name);
    if (missing || (isFinal && !opts.followFinal)) {
      resolved.push(name);
      continue;
    }
    let isLink: boolean;
    try {
      const st = lstatSync(here, { throwIfNoEntry: false });
      if (st === undefined) {
        missing = true;
        resolved.push(name);
        continue;
      }
      isLink = st.isSymbolicLink();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fromFsError(err, rel);
      missing = true;
      resolved.push(name);
      continue;
    }
    if (!isLink) {
      resolved.push(name);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw escape(rel, `more than ${MAX_SYMLINKS} symlinks (a loop?)`);
    let target: string;
    try {
      target = readlinkSync(here);
    } catch (err) {
      throw fromFsError(err, rel);
    }
    if (target.includes('\0')) throw escape(rel, 'a symlink target contains a NUL byte');
    if (target.startsWith('/')) {
      if (opts.absoluteLinks === 'refuse') {
        throw escape(rel, `symlink ${join(...resolved, name)} -> ${target} is absolute`);
      }
      resolved.length = 0;
    }
    for (const part of target.split('/').reverse()) pending.push(part);
  }
  return join(root, ...resolved);
}

function escape(rel: RelPath, why: string): KxError {
  return new KxError(ErrorCode.PathEscape, `path ${JSON.stringify(rel)} escapes the root: ${why}`);
}
