// The thread of a PlacePool (place-pool.ts): places a group of small files, each with its filesystem calls
// done synchronously in a row (create the temp file with its mode, write it, owner, mtime, rename over the name), so a
// group of many files costs one message each way instead of three thread-pool round trips per file. The
// directories are the main thread's pinned fds, reached through /proc/self/fd as dir.ts does (the same process).
import type * as Fs from 'node:fs';

/**
 * A group as the thread takes it: per file five numbers in `meta` (FIELDS) and two names in `names`, so the
 * message clones two arrays and a string rather than an object per file.
 */
export interface PlaceGroup {
  readonly id: number;
  /** Per file: the parent's fd, the content's offset and length in `data`, the mode, the mtime in seconds. */
  readonly meta: Float64Array;
  /** Per file its temp name and its name, all joined by NUL (which no name holds). */
  readonly names: string;
  /** The shared slot (PlaceWorkerData.slots) that holds the content, or -1: then `data` does. */
  readonly slot: number;
  readonly data: ArrayBuffer | null;
  readonly owner: PlaceOwner | undefined;
  readonly fsync: boolean;
}
/** Numbers per file in PlaceGroup.meta. */
export const FIELDS = 5;
/** The owner given to placed files (place.ts Owner, declared here as this module takes it). */
export interface PlaceOwner { readonly uid: number; readonly gid: number }
export interface PlaceFailure { readonly code: string; readonly message: string }
export interface PlaceReply {
  readonly id: number;
  readonly failures: readonly (PlaceFailure | null)[];
  /** The group's transferred buffer, handed back (null: its content was in a shared slot). */
  readonly data: ArrayBuffer | null;
}
/** What the thread is started with: the buffers it shares with the pool for groups' content. */
export interface PlaceWorkerData {
  readonly slots: readonly SharedArrayBuffer[];
}

/** Places one file (see filePlacer); null when placed, else what failed (its temp file removed). */
export type FilePlacer = (dirFd: number, tmp: string, name: string, content: Uint8Array, mode: number, mtimeS: number, owner: PlaceOwner | undefined, fsync: boolean) => PlaceFailure | null;

/**
 * One file's placement with synchronous calls: create the temp file (with its mode when the umask leaves that whole),
 * write it, owner, mode, mtime, rename it over its name. Self-contained (it runs in the thread from its source, and
 * on the main thread for a batch too small to be worth starting the thread, see PlacePool), given `node:fs`.
 */
export function filePlacer(fs: typeof Fs): FilePlacer {
  const C = fs.constants;
  // The process's umask (Linux names it in /proc/<pid>/status); -1 when unknown, and then every file gets its mode
  // from fchmod. Read once: radar never changes its umask.
  const umask = ((): number => {
    try {
      const m = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
      return m ? parseInt(m[1], 8) : -1;
    } catch {
      return -1;
    }
  })();
  return (dirFd, tmp, name, content, mode, mtimeS, owner, fsync) => {
    const dir = `/proc/self/fd/${dirFd}`;
    let fd = -1;
    try {
      // A mode the umask leaves whole, without set-id or sticky bits (which chown would clear), is given at creation:
      // no fchmod then, one metadata update (journaled, on ext4) less per file. The temp file is then readable as the
      // file will be; otherwise it is private (0600) until fchmod.
      const atCreate = umask >= 0 && (mode & ~0o777) === 0 && (mode & umask) === 0;
      // O_EXCL|O_NOFOLLOW: never an existing entry, never through a symlink (as Dir.createFile).
      fd = fs.openSync(`${dir}/${tmp}`, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, atCreate ? mode : 0o600);
      for (let off = 0; off < content.byteLength; ) off += fs.writeSync(fd, content, off, content.byteLength - off, off);
      if (owner) fs.fchownSync(fd, owner.uid, owner.gid); // before chmod: chown clears set-id bits
      if (!atCreate) fs.fchmodSync(fd, mode);
      fs.futimesSync(fd, mtimeS, mtimeS);
      if (fsync) fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = -1;
      fs.renameSync(`${dir}/${tmp}`, `${dir}/${name}`);
      return null;
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd);
      try {
        fs.unlinkSync(`${dir}/${tmp}`);
      } catch {
        // never created, or already gone
      }
      const e = err as NodeJS.ErrnoException;
      return { code: e?.code ?? '', message: e?.message ?? String(err) };
    }
  };
}

/** The thread's source: placeWorker run with filePlacer (each self-contained). */
export function placeWorkerSource(): string {
  return `(${placeWorker.toString()})(${filePlacer.toString()})`;
}

/**
 * The thread's code. The pool starts it from this function's source (eval), self-contained: a .ts entry would load
 * Node's type stripper into the thread as well (~11 MB more of radar's RSS while the thread lives, some of it kept).
 */
export function placeWorker(placer: typeof filePlacer): void {
  /** BULK_NICE of thread-priority.ts (nothing of another module is in scope either). */
  const BULK_NICE = 5;
  const fs = process.getBuiltinModule('node:fs');
  const threads = process.getBuiltinModule('node:worker_threads');
  const parentPort = threads.parentPort;
  const slots = ((threads.workerData as PlaceWorkerData | undefined)?.slots ?? []).map((b) => new Uint8Array(b));
  /** FIELDS (the function runs alone: nothing of this module is in scope). */
  const FIELDS = 5;

  // Placing a full sync's files is bulk work (a save's file is placed on the main thread): the thread runs at a lower
  // CPU priority than radar's main thread, which serves saves. lowerThreadPriority (pkg/lifecycle/thread-priority.ts),
  // inlined: on Linux the nice value is per thread, /proc/thread-self names this one.
  if (process.platform === 'linux') {
    try {
      const os = process.getBuiltinModule('node:os');
      const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
      if (os.getPriority(tid) < BULK_NICE) os.setPriority(tid, BULK_NICE);
    } catch {
      // a preference, not a requirement
    }
  }

  const placeOne = placer(fs);

  parentPort?.on('message', (group: PlaceGroup) => {
    const data = group.slot >= 0 ? slots[group.slot] : new Uint8Array(group.data!);
    const m = group.meta;
    const names = group.names.split('\0');
    const failures: (PlaceFailure | null)[] = [];
    for (let i = 0, k = 0; k < m.length; i += 2, k += FIELDS) {
      failures.push(placeOne(m[k], names[i], names[i + 1], data.subarray(m[k + 1], m[k + 1] + m[k + 2]), m[k + 3], m[k + 4], group.owner, group.fsync));
    }
    // A transferred buffer goes back: this thread allocates too little for its GC to free it soon (tens of MB stayed held).
    if (group.data === null) parentPort.postMessage({ id: group.id, failures, data: null } satisfies PlaceReply);
    else parentPort.postMessage({ id: group.id, failures, data: group.data } satisfies PlaceReply, [group.data]);
  });
}
