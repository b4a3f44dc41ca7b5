// Removal: an entry the sender deleted, and the temp files an interrupted run left behind. Directories are removed
// level by level through their own fds (Dir.removeTree), so one swapped for a symlink meanwhile is never entered.
import { readdir, unlink } from 'node:fs/promises';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import { isTempName } from '../sync/paths.ts';
import type { RelPath } from '../sync/types.ts';
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
