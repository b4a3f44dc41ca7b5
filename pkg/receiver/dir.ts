// A directory held open, and every operation on an entry of it done inside that very directory: the receiver's only
// way to touch a tree it does not trust (as mutagen's filesystem.Directory). Node has no openat/mkdirat/renameat;
// `/proc/self/fd/<fd>/<name>` is their equivalent on Linux: the kernel resolves /proc/self/fd/<fd> to the inode the
// fd holds, so a process that swaps the directory for a symlink afterwards cannot redirect the operation, and the
// final name is never followed (lstat, O_NOFOLLOW, or replaced by rename). Linux only.
import { closeSync, constants as C, fstatSync, lchownSync, lstatSync, mkdirSync, open, openSync, readdirSync, readlinkSync, rename, renameSync, rmdirSync, symlinkSync, unlinkSync } from 'node:fs';
import type { Dirent, Stats } from 'node:fs';
import { ErrorCode, KxError, fromFsError } from '../sync/errors.ts';
import type { ScanDir } from '../sync/scan.ts';

/** O_PATH (Linux): a handle for walking and /proc/self/fd lookups that needs no read permission on the directory. */
export const O_PATH = 0o10000000;

/** Flags every open of an entry carries: a final symlink refused, a FIFO put where a file was not waited on. */
const NO_FOLLOW = C.O_NOFOLLOW | C.O_NONBLOCK;

export class Dir implements ScanDir {
  /** The directory's fd (O_PATH): owned, closed by close(). */
  readonly fd: number;

  constructor(fd: number) {
    this.fd = fd;
  }

  /**
   * Open `root` as a directory: its anchor followed (a /proc/<pid>/root magic link, or a path the user chose), every
   * component after it opened with O_NOFOLLOW, so a component swapped for a symlink since it was resolved is refused.
   */
  static openRoot(root: string, anchor: string = anchorOf(root)): Dir {
    if (!(root === anchor || root.startsWith(`${anchor}/`))) {
      throw new KxError(ErrorCode.InvalidArgument, `root ${root}: does not lie beneath its anchor ${anchor}`);
    }
    let dir: Dir;
    try {
      dir = new Dir(openSync(anchor, O_PATH | C.O_DIRECTORY));
    } catch (err) {
      throw fromFsError(err, root);
    }
    for (const name of root.slice(anchor.length).split('/')) {
      if (name === '' || name === '.') continue;
      try {
        const next = dir.openDir(name, root);
        dir.close();
        dir = next;
      } catch (err) {
        dir.close();
        throw err;
      }
    }
    return dir;
  }

  /**
   * `/proc/self/fd/<fd>` or, with a name, that entry inside this directory: a path the kernel resolves in this
   * directory, whatever has happened to its own path since. Whoever uses it must not follow `name` itself.
   */
  at(name?: string): string {
    return name === undefined ? `/proc/self/fd/${this.fd}` : `/proc/self/fd/${this.fd}/${name}`;
  }

  list(): string[] {
    return readdirSync(this.at());
  }

  listTypes(): Dirent[] {
    return readdirSync(this.at(), { withFileTypes: true });
  }

  /** The entry's own status (a symlink is not followed); undefined when there is none. */
  lstat(name: string): Stats | undefined {
    return lstatSync(this.at(name), { throwIfNoEntry: false });
  }

  stat(): Stats {
    return fstatSync(this.fd);
  }

  readlink(name: string): string {
    return readlinkSync(this.at(name));
  }

  /** Subdirectory `name`, refusing a symlink (PATH_ESCAPE) or anything not a directory there. `shown` names it in errors. */
  openDir(name: string, shown: string): Dir {
    let fd: number;
    try {
      fd = openSync(this.at(name), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ELOOP' || code === 'ENOTDIR') && this.lstat(name)?.isSymbolicLink()) {
        throw new KxError(ErrorCode.PathEscape, `path ${JSON.stringify(shown)}: ${name} is a symlink; refuses to follow it`);
      }
      throw fromFsError(err, shown);
    }
    // O_PATH|O_NOFOLLOW would hold a symlink itself rather than fail: make sure it is a directory.
    if (!fstatSync(fd).isDirectory()) {
      closeSync(fd);
      throw new KxError(ErrorCode.PathEscape, `path ${JSON.stringify(shown)}: ${name} is not a directory; refuses to follow it`);
    }
    return new Dir(fd);
  }

  /** Subdirectory `name`, or undefined when it is gone or no longer a directory (a symlink swapped in, say). */
  enter(name: string, shown: string = name): Dir | undefined {
    let fd: number;
    try {
      fd = openSync(this.at(name), O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
    } catch (err) {
      if (isGone(err)) return undefined;
      throw fromFsError(err, shown);
    }
    if (fstatSync(fd).isDirectory()) return new Dir(fd);
    closeSync(fd); // O_PATH|O_NOFOLLOW holds a symlink itself rather than fail
    return undefined;
  }

  /** An fd of entry `name` opened with `flags`, never following a final symlink (PATH_ESCAPE) nor waiting on a FIFO. */
  open(name: string, flags: number, shown: string): number {
    try {
      return openSync(this.at(name), flags | NO_FOLLOW);
    } catch (err) {
      // With O_DIRECTORY, Linux reports a final symlink as ENOTDIR rather than ELOOP.
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' && this.lstat(name)?.isSymbolicLink()) {
        throw new KxError(ErrorCode.PathEscape, `${shown}: is a symlink; refuses to follow it`);
      }
      throw fromFsError(err, shown);
    }
  }

  /**
   * Regular file `name` opened for reading, or null when it is gone, a symlink or not a regular file (checked on
   * the fd, so a swap since any earlier lstat is seen). Other failures throw, naming `shown`.
   */
  openFile(name: string, shown: string): number | null {
    let fd: number;
    try {
      fd = openSync(this.at(name), C.O_RDONLY | NO_FOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP') return null;
      throw fromFsError(err, shown);
    }
    if (fstatSync(fd).isFile()) return fd;
    closeSync(fd);
    return null;
  }

  /** Create file `name` (O_EXCL: never an existing entry, never through a symlink) for writing. */
  createFile(name: string, mode: number): number {
    return openSync(this.at(name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
  }

  /**
   * createFile on the thread pool: creating a file is the costliest call of a small write (the filesystem allocates
   * an inode and a directory entry), and several of them run at once while the event loop reads the next content.
   */
  createFileAsync(name: string, mode: number): Promise<number> {
    return new Promise((resolve, reject) =>
      open(this.at(name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
  }

  /** mkdir; false when something is there already (the caller checks what, opening it without following). */
  mkdir(name: string, mode: number): boolean {
    try {
      mkdirSync(this.at(name), { mode });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  symlink(target: string, name: string): void {
    symlinkSync(target, this.at(name));
  }

  /** chown of the entry itself (a symlink swapped in is not followed). */
  lchown(name: string, uid: number, gid: number): void {
    lchownSync(this.at(name), uid, gid);
  }

  /** Rename entry `from` of this directory to `to` in `toDir` (the same directory or another one held open). */
  rename(from: string, toDir: Dir, to: string): void {
    renameSync(this.at(from), toDir.at(to));
  }

  /** rename on the thread pool (see createFileAsync). */
  renameAsync(from: string, toDir: Dir, to: string): Promise<void> {
    return new Promise((resolve, reject) => rename(this.at(from), toDir.at(to), (err) => (err ? reject(err) : resolve())));
  }

  unlink(name: string): void {
    unlinkSync(this.at(name));
  }

  /** unlink that ignores an entry already gone (or never created). */
  unlinkQuietly(name: string): void {
    try {
      unlinkSync(this.at(name));
    } catch {
      // already gone
    }
  }

  /**
   * rm -r of directory `name`, each level through its own fd: a directory swapped for a symlink meanwhile is
   * unlinked as a link, never entered. An entry already gone is not an error.
   */
  removeTree(name: string): void {
    let fd: number;
    try {
      fd = openSync(this.at(name), C.O_RDONLY | C.O_DIRECTORY | NO_FOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'ELOOP' || code === 'ENOTDIR') return this.unlink(name); // no longer a directory
      throw err;
    }
    const sub = new Dir(fd);
    try {
      for (const d of sub.listTypes()) {
        if (d.isDirectory()) {
          sub.removeTree(d.name);
          continue;
        }
        try {
          sub.unlink(d.name);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EISDIR' || code === 'EPERM') sub.removeTree(d.name); // became a directory meanwhile
          else if (code !== 'ENOENT') throw err;
        }
      }
    } finally {
      sub.close();
    }
    try {
      rmdirSync(this.at(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * The part of a root path that is trusted to be followed: a /proc/<pid>/root prefix (the kernel's link to a
 * container's root, whose own content is untrusted), a /proc/self/fd/<fd> prefix (that root pinned by radar), or —
 * for any other root — the whole path, which the user chose. What follows the anchor is walked with O_NOFOLLOW:
 * radar resolved it already, so a symlink there now is a swap.
 */
export function anchorOf(root: string): string {
  const m = /^(.*?\/proc\/(?:\d+\/root|self\/fd\/\d+))(?=\/|$)/.exec(root);
  return m ? m[1] : root;
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}
