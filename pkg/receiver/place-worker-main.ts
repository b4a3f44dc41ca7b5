// The thread of a PlacePool (place-pool.ts): places a group of small files, each with its filesystem calls
// done synchronously in a row (create the temp file, write it, owner, mode, mtime, rename over the name), so a
// group of many files costs one message each way instead of three thread-pool round trips per file. The
// directories are the main thread's pinned fds, reached through /proc/self/fd as dir.ts does (the same process).
import { closeSync, constants as C, fchmodSync, fchownSync, fsyncSync, futimesSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { PlaceFailure, PlaceGroup, PlaceReply } from './place-pool.ts';

/** place-pool.ts FIELDS (a value import would load the pool's module, and with it Worker, into this thread). */
const FIELDS = 5;

parentPort?.on('message', (group: PlaceGroup) => {
  const data = new Uint8Array(group.data);
  const m = group.meta;
  const names = group.names.split('\0');
  const failures: (PlaceFailure | null)[] = [];
  for (let i = 0, k = 0; k < m.length; i += 2, k += FIELDS) {
    failures.push(placeOne(m[k], names[i], names[i + 1], data.subarray(m[k + 1], m[k + 1] + m[k + 2]), m[k + 3], m[k + 4], group));
  }
  parentPort!.postMessage({ id: group.id, failures } satisfies PlaceReply);
});

function placeOne(dirFd: number, tmp: string, name: string, content: Uint8Array, mode: number, mtimeS: number, group: PlaceGroup): PlaceFailure | null {
  const dir = `/proc/self/fd/${dirFd}`;
  let fd = -1;
  try {
    // O_EXCL|O_NOFOLLOW: never an existing entry, never through a symlink (as Dir.createFile).
    fd = openSync(`${dir}/${tmp}`, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    for (let off = 0; off < content.byteLength; ) off += writeSync(fd, content, off, content.byteLength - off, off);
    if (group.owner) fchownSync(fd, group.owner.uid, group.owner.gid); // before chmod: chown clears set-id bits
    fchmodSync(fd, mode);
    futimesSync(fd, mtimeS, mtimeS);
    if (group.fsync) fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(`${dir}/${tmp}`, `${dir}/${name}`);
    return null;
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(`${dir}/${tmp}`);
    } catch {
      // never created, or already gone
    }
    const e = err as NodeJS.ErrnoException;
    return { code: e?.code ?? '', message: e?.message ?? String(err) };
  }
}
