// Removal: an entry the sender deleted, and the temp files an interrupted run left behind. Directories are removed
// level by level through their own fds (Dir.removeTree), so one swapped for a symlink meanwhile is never entered.
import { readdir, unlink } from 'node:fs/promises';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import { checkRelPath, isTempName } from '../sync/paths.ts';
import type { PriorEntry, RelPath } from '../sync/types.ts';
import { Dir } from './dir.ts';
import type { DirPins, PinnedParent } from './pins.ts';

/** Remove a file, link or whole directory at the pinned `p`; a path already gone is not an error. Links are removed, not followed. */
export function removeEntry(pins: DirPins, p: PinnedParent, path: RelPath): void {
  try {
    const st = p.dir.lstat(p.name);
    if (st === undefined) return;
    if (st.isDirectory()) {
      pins.forget(p.path === '' ? p.name : `${p.path}/${p.name}`);
      p.dir.removeTree(p.name);
    } else {
      p.dir.unlink(p.name);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fromFsError(err, path);
  }
}

/**
 * Throws CHANGED unless the directory at the pinned `p` holds nothing but `contents` (paths relative to it), each as
 * listed: files of the listed size and mtime, links with the listed text, directories as directories. Listed entries
 * that are gone are fine (the remove would take them anyway). The listing is only compared against: each directory
 * is entered through its parent without following a symlink, and no listed path is ever opened by name. radar's own
 * temporary files are not the container's and do not count.
 */
export function checkContents(p: PinnedParent, path: RelPath, contents: readonly PriorEntry[]): void {
  const expected = new Map<RelPath, PriorEntry>();
  for (const c of contents) expected.set(checkRelPath(c.path), c);
  const changed = (rel: RelPath, now: string): KxError =>
    new KxError(ErrorCode.Changed, `${path}: changed in the container since kx last synced it (${path}/${rel} ${now}); left as it is`);
  const walk = (dir: Dir, base: RelPath | ''): void => {
    for (const name of dir.list()) {
      if (isTempName(name)) continue;
      const rel = base === '' ? name : `${base}/${name}`;
      const st = dir.lstat(name);
      if (st === undefined) continue; // gone meanwhile
      const want = expected.get(rel);
      if (want === undefined) throw changed(rel, 'was made there');
      const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      if (kind !== want.kind) throw changed(rel, `is now a ${kind}`);
      if (kind === 'file' && (st.size !== want.size || Math.floor(st.mtimeMs) !== want.mtimeMs)) {
        throw changed(rel, `is now ${st.size} B, modified ${new Date(st.mtimeMs).toISOString()}`);
      }
      if (kind === 'symlink' && want.target !== undefined && dir.readlink(name) !== want.target) throw changed(rel, 'now links elsewhere');
      if (kind !== 'dir') continue;
      const sub = dir.enter(name, `${path}/${rel}`);
      if (sub === undefined) {
        if (dir.lstat(name) === undefined) continue; // gone meanwhile
        throw changed(rel, 'is no longer a directory');
      }
      try {
        walk(sub, rel);
      } finally {
        sub.close();
      }
    }
  };
  const top = p.dir.enter(p.name, path);
  if (top === undefined) return; // gone, or no longer a directory: checkPrior has the last word on its kind
  try {
    walk(top, '');
  } catch (err) {
    if (err instanceof KxError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fromFsError(err, path);
  } finally {
    top.close();
  }
}

/** Remove radar's temporary files (TEMP_PREFIX) left anywhere beneath root by an earlier crash. Returns the count. */
export async function cleanTemp(root: string, signal?: AbortSignal, anchor?: string): Promise<number> {
  let removed = 0;
  // Walked through directories held open: a directory swapped for a symlink meanwhile is not entered.
  const walk = async (dir: Dir): Promise<void> => {
    signal?.throwIfAborted();
    let names;
    try {
      names = await readdir(dir.at(), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw fromFsError(err, root);
    }
    for (const d of names) {
      if (isTempName(d.name) && !d.isDirectory()) {
        await unlink(dir.at(d.name)).catch(() => undefined);
        removed++;
      } else if (d.isDirectory()) {
        let sub: Dir | undefined;
        try {
          sub = dir.enter(d.name);
        } catch {
          continue; // not ours to enter
        }
        if (sub === undefined) continue; // gone, or swapped for a symlink: not entered
        try {
          await walk(sub);
        } finally {
          sub.close();
        }
      }
    }
  };
  let rootDir: Dir;
  try {
    rootDir = Dir.openRoot(root, anchor);
  } catch (err) {
    if (err instanceof KxError && err.code === ErrorCode.NotFound) return 0;
    throw err;
  }
  try {
    await walk(rootDir);
  } finally {
    rootDir.close();
  }
  return removed;
}
