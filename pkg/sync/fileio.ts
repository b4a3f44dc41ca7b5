// Small file-reading helpers shared by scan, signature and delta: no symlink following, full reads.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { ErrorCode, KxError, fromFsError } from './errors.ts';

/** Open a regular file for reading without following a final symlink; anything else is refused. */
export async function openRegularFile(path: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO put where a file was must not hang (it is refused just below).
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fromFsError(err, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new KxError(ErrorCode.InvalidArgument, `${path}: not a regular file`);
    return fh;
  } catch (err) {
    await fh.close();
    throw fromFsError(err, path);
  }
}

/** Read into buf[0, length) from position until full or EOF; returns the bytes read. */
export async function readFull(fh: FileHandle, buf: Uint8Array, length: number, position: number): Promise<number> {
  let n = 0;
  while (n < length) {
    const { bytesRead } = await fh.read(buf, n, length - n, position + n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

/** Throw CANCELLED naming what was interrupted when the signal has fired. */
export function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new KxError(ErrorCode.Cancelled, `${what}: cancelled`, { cause: signal.reason });
}
