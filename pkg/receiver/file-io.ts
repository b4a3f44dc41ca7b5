// Reading and writing a file through its fd, in the two speeds the receiver needs: synchronous for a small file
// (a thread-pool round trip costs more than its read or write) and with promises for a large one (the event loop
// keeps serving other calls while it streams).
import { read, readSync, write, writeSync } from 'node:fs';
import type { Hasher } from '../sync/hash.ts';
import type { DeltaBasis, DeltaOut } from '../sync/patch.ts';

export interface FileIo extends DeltaBasis, DeltaOut {}

/** Synchronous reads and writes of fd. */
export function syncIo(fd: number): FileIo {
  return {
    read: (buffer, offset, length, position) => ({ bytesRead: readSync(fd, buffer, offset, length, position) }),
    write: (buffer, offset, length, position) => ({ bytesWritten: writeSync(fd, buffer, offset, length, position) }),
  };
}

/** Reads and writes of fd on the thread pool. */
export function asyncIo(fd: number): FileIo {
  return {
    read: (buffer, offset, length, position) =>
      new Promise((resolve, reject) => read(fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead })))),
    write: (buffer, offset, length, position) =>
      new Promise((resolve, reject) => write(fd, buffer, offset, length, position, (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten })))),
  };
}

/** A buffer written in place: the content of a small file rebuilt in memory (never past its end: the caller bounds it). */
export function memoryOut(buf: Uint8Array): DeltaOut {
  return {
    write: (data, offset, length, position) => {
      buf.set(length === data.length ? data : data.subarray(offset, offset + length), position);
      return { bytesWritten: length };
    },
  };
}

/**
 * Copy `src` to `out` (or just read it, out null), hashing what was read; returns the digest. `sizeHint` (the
 * file's size when opened) sizes the buffer: a small file's end is then seen in its first read.
 */
export async function copyHashing(src: DeltaBasis, out: DeltaOut | null, hasher: Hasher, signal?: AbortSignal, sizeHint = COPY_BUFFER_BYTES): Promise<string> {
  const h = hasher.stream();
  const buf = Buffer.allocUnsafe(Math.min(COPY_BUFFER_BYTES, Math.max(4096, sizeHint + 1)));
  let pos = 0;
  for (;;) {
    signal?.throwIfAborted();
    const { bytesRead } = await src.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    const chunk = buf.subarray(0, bytesRead);
    h.update(chunk);
    for (let done = 0; out !== null && done < bytesRead; ) done += (await out.write(chunk, done, bytesRead - done, pos + done)).bytesWritten;
    pos += bytesRead;
  }
  return h.digest();
}

const COPY_BUFFER_BYTES = 256 * 1024;

/**
 * utimes takes seconds as a double and the kernel truncates its fraction; half a microsecond more keeps the
 * whole millisecond from being truncated to the one below (1.123 s is 1.12299999… in binary).
 */
export function fileTimes(mtimeMs: number): [number, number] {
  const s = mtimeMs / 1000 + 5e-7;
  return [s, s];
}
