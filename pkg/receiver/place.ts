// Atomic placement: a file's content is written into a temp file beside its name, given its owner, mode and mtime,
// and renamed over the name, so a reader sees the old file or the new one, never a half-written one, and an
// interrupted transfer leaves only a temp file (removed on failure, or by cleanTemp after a crash).
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, fsync, fsyncSync, futimesSync, write, writeSync } from 'node:fs';
import { fromFsError } from '../sync/errors.ts';
import { TEMP_PREFIX } from '../sync/paths.ts';
import type { RelPath } from '../sync/types.ts';
import type { Dir } from './dir.ts';
import { fileTimes } from './file-io.ts';
import type { PlacePool } from './place-pool.ts';

export interface Owner { readonly uid: number; readonly gid: number }

export interface PlacementOptions {
  /** Owner given to everything created; unset: the process's own. */
  readonly owner?: Owner | undefined;
  /** fsync each file before renaming it into place. */
  readonly fsync: boolean;
  /** Keep set-user-ID, set-group-ID and sticky bits of the modes asked for. */
  readonly keepSetIdBits: boolean;
  /** Where fileFrom places small files (grouped, on a thread of their own); unset: on the thread pool. */
  readonly pool?: PlacePool | undefined;
  /** Whether the pool may place a file on the calling thread (PlaceRequest.mayInline); default yes. */
  readonly mayInline?: () => boolean;
}

export class Placement {
  readonly owner: Owner | undefined;
  readonly #fsync: boolean;
  readonly #modeMask: number;
  readonly #pool: PlacePool | undefined;
  readonly #mayInline: () => boolean;
  readonly #tempPrefix = `${tempName()}-`;
  #tempSeq = 0;

  constructor(opts: PlacementOptions) {
    this.owner = opts.owner;
    this.#fsync = opts.fsync;
    this.#modeMask = opts.keepSetIdBits ? 0o7777 : 0o777;
    this.#pool = opts.pool;
    this.#mayInline = opts.mayInline ?? (() => true);
  }

  /** The permission bits to set: set-user-ID, set-group-ID and sticky only when they are kept. */
  mode(mode: number): number {
    return mode & this.#modeMask;
  }

  /**
   * Create a temp file in `dir`, fill it, set owner/mode/mtime, rename it over `name`; on failure remove it. A
   * `fill` that returns nothing ran synchronously (the small-file fast path): the file is then synced the same way.
   */
  async file(dir: Dir, name: string, path: RelPath, mode: number, mtimeMs: number, fill: (fd: number) => void | Promise<void>): Promise<void> {
    const tmp = this.#tempName();
    let fd = -1;
    try {
      fd = dir.createFile(tmp, 0o600);
      const filling = fill(fd);
      if (filling !== undefined) await filling;
      if (this.owner) fchownSync(fd, this.owner.uid, this.owner.gid); // before chmod: chown clears set-id bits
      fchmodSync(fd, this.mode(mode));
      futimesSync(fd, ...fileTimes(mtimeMs));
      if (this.#fsync) {
        if (filling === undefined) fsyncSync(fd);
        else await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
      }
      closeSync(fd);
      fd = -1;
      // A file filled on the thread pool is a streamed one (over 1 MiB) or a copy: replacing a file with a large
      // one makes ext4 start its data's writeback inside the rename (auto_da_alloc, ~40 ms for 200 MiB), which the
      // thread pool then pays, not the event loop.
      if (filling === undefined) dir.rename(tmp, dir, name);
      else await dir.renameAsync(tmp, dir, name);
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      dir.unlinkQuietly(tmp);
      throw fromFsError(err, path);
    }
  }

  /**
   * `file` for content already in memory (verified), with the calls that wait on the filesystem (create, write,
   * rename) on the thread pool, so several small files are placed at once while the event loop receives the next.
   * Owner, mode and mtime stay synchronous: each costs less than a thread-pool round trip. With a PlacePool, the
   * whole placement is one step of a group on the pool's thread instead.
   */
  async fileFrom(dir: Dir, name: string, path: RelPath, mode: number, mtimeMs: number, content: Uint8Array): Promise<void> {
    const tmp = this.#tempName();
    if (this.#pool) {
      const mtimeS = fileTimes(mtimeMs)[0];
      return this.#pool.place({ dirFd: dir.fd, tmp, name, path, content, mode: this.mode(mode), mtimeS, owner: this.owner, fsync: this.#fsync, mayInline: this.#mayInline() });
    }
    let fd = -1;
    try {
      fd = await dir.createFileAsync(tmp, 0o600);
      for (let off = 0; off < content.byteLength; ) off += await writeAt(fd, content, off);
      if (this.owner) fchownSync(fd, this.owner.uid, this.owner.gid); // before chmod: chown clears set-id bits
      fchmodSync(fd, this.mode(mode));
      futimesSync(fd, ...fileTimes(mtimeMs));
      if (this.#fsync) await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
      closeSync(fd);
      fd = -1;
      await dir.renameAsync(tmp, dir, name);
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      dir.unlinkQuietly(tmp);
      throw fromFsError(err, path);
    }
  }

  /**
   * `fileFrom` with every call synchronous, on the calling thread: for a save's file, where each thread-pool round
   * trip (and the wake-up of the event loop after it) would wait for a CPU on a busy node, and behind bulk work's
   * files in the pool's queue.
   */
  fileNow(dir: Dir, name: string, path: RelPath, mode: number, mtimeMs: number, content: Uint8Array): Promise<void> {
    return this.file(dir, name, path, mode, mtimeMs, (fd) => {
      for (let off = 0; off < content.byteLength; ) off += writeSync(fd, content, off, content.byteLength - off);
    });
  }

  /** A link is created beside `name` and renamed over it, so an existing link or file is replaced atomically. */
  symlink(dir: Dir, name: string, path: RelPath, target: string): void {
    const tmp = this.#tempName();
    try {
      dir.symlink(target, tmp);
      if (this.owner) dir.lchown(tmp, this.owner.uid, this.owner.gid);
      dir.rename(tmp, dir, name);
    } catch (err) {
      dir.unlinkQuietly(tmp);
      throw fromFsError(err, path);
    }
  }

  /** A fresh temp name: random per placement, then counted (O_EXCL catches the impossible clash). */
  #tempName(): string {
    return `${this.#tempPrefix}${(this.#tempSeq++).toString(36)}`;
  }
}

function writeAt(fd: number, content: Uint8Array, offset: number): Promise<number> {
  return new Promise((resolve, reject) =>
    write(fd, content, offset, content.byteLength - offset, offset, (err, n) => (err ? reject(err) : resolve(n))));
}

export function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
}
