// Resolving a client's path beneath a root without ever leaving it, for reporting where a path leads. The root may
// be a /proc/<pid>/root/... magic link into a container, where the kernel would resolve an absolute symlink against
// the NODE's '/', so the path is walked component by component through directories held open (pins.ts), never
// handed to realpath or a following open. The path it returns is only as good as the moment it was checked:
// anything that writes operates on pinned directories instead, so a later swap cannot redirect the write.
import { join } from 'node:path';
import type { RelPath } from '../sync/types.ts';
import { Dir } from './dir.ts';
import { DirPins } from './pins.ts';

export interface ResolveOptions {
  /**
   * 'refuse': an absolute symlink target is an escape. 'in-root': it restarts at root (like openat2's
   * RESOLVE_IN_ROOT), for resolving a path inside a container's root as the container itself would.
   */
  absoluteLinks: 'refuse' | 'in-root';
  /** Follow a symlink in the final component too. Writers pass false: they replace or refuse the link itself. */
  followFinal: boolean;
}

/**
 * The host path of `rel` beneath the existing directory `root`: every component before the last is a real
 * directory (or does not exist yet) inside root, reached without following a symlink out of it. Throws PATH_ESCAPE
 * for '..' above root, an absolute link target under 'refuse', or a symlink loop; INVALID_PATH for a NUL byte.
 * Leading '/' and empty components in `rel` are ignored, so a container's absolute remote path can be resolved
 * with 'in-root'.
 */
export async function resolveBeneath(root: string, rel: RelPath, opts: ResolveOptions): Promise<string> {
  const dir = Dir.openRoot(root, root);
  const pins = new DirPins(dir, { absoluteLinks: opts.absoluteLinks });
  try {
    return join(root, ...pins.walk(rel, rel, { lenient: { followFinal: opts.followFinal } }));
  } finally {
    pins.close();
    dir.close();
  }
}
